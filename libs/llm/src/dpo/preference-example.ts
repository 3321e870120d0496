import type { ChatMessage } from '../tokenizer/chat-template.js';

/**
 * A preference record in one shape: a prompt (a conversation, or plain text) and the two
 * responses, as text. Chat prompts go through the model's chat template (or the plain format);
 * text prompts are used as written.
 */
export type PreferenceExample =
  | {
      readonly kind: 'chat';
      readonly prompt: readonly ChatMessage[];
      readonly chosen: string;
      readonly rejected: string;
      readonly weight: number;
    }
  | {
      readonly kind: 'text';
      readonly prompt: string;
      readonly chosen: string;
      readonly rejected: string;
      readonly weight: number;
    };

/** The record layouts {@link normalizePreferenceRecord} recognizes. */
export type PreferenceFormat = 'prompt-chosen-rejected' | 'hh-rlhf' | 'sharegpt' | 'stack-exchange';

/** A normalized record, or why it cannot be used. */
export type NormalizedPreference =
  | { readonly ok: true; readonly format: PreferenceFormat; readonly example: PreferenceExample }
  | { readonly ok: false; readonly reason: string };

const HH_TURN = /\n\n(Human|Assistant): ?/g;

/**
 * Normalizes one record:
 * - `{prompt, chosen, rejected}`: strings (a text prompt), or TRL's conversational form (prompt
 *   a list of `{role, content}`, each response a string or a list holding one assistant message);
 * - HH-RLHF `{chosen, rejected}` full transcripts (`\n\nHuman: ...\n\nAssistant: ...`): the prompt
 *   is the longest run of turns both share that ends right before an assistant turn;
 * - ShareGPT `{conversations: [{from, value}], chosen: {from, value}, rejected: {from, value}}`;
 * - StackExchange `{question, response_j (preferred), response_k}`.
 * An optional numeric `weight` (> 0) scales the pair's loss; with `agreementWeights` the weight
 * is instead `provenance.agreement` (the share of annotators who chose the winner, as Lathe's
 * preferences service writes it into snapshots), required on every record.
 */
export function normalizePreferenceRecord(
  value: unknown,
  options: { agreementWeights?: boolean } = {},
): NormalizedPreference {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ok: false, reason: 'a preference record must be a JSON object' };
  const r = value as Record<string, unknown>;
  let weight: unknown = r['weight'] ?? 1;
  if (options.agreementWeights) {
    const provenance = r['provenance'];
    weight =
      typeof provenance === 'object' && provenance !== null
        ? (provenance as Record<string, unknown>)['agreement']
        : undefined;
    if (typeof weight !== 'number' || !(weight > 0 && weight <= 1))
      return {
        ok: false,
        reason: `"provenance.agreement" must be a number in (0, 1] to weight by agreement (got ${JSON.stringify(weight)})`,
      };
  }
  if (typeof weight !== 'number' || !(weight > 0) || !Number.isFinite(weight))
    return {
      ok: false,
      reason: `"weight" must be a positive number (got ${JSON.stringify(weight)})`,
    };
  try {
    if ('conversations' in r) return sharegpt(r, weight);
    if ('question' in r) {
      const prompt = text(r['question'], 'question');
      const example = { kind: 'chat' as const, prompt: [{ role: 'user', content: prompt }] };
      return {
        ok: true,
        format: 'stack-exchange',
        example: {
          ...example,
          chosen: text(r['response_j'], 'response_j'),
          rejected: text(r['response_k'], 'response_k'),
          weight,
        },
      };
    }
    if ('prompt' in r) return promptChosenRejected(r, weight);
    if ('chosen' in r && 'rejected' in r) return hhRlhf(r, weight);
  } catch (e) {
    if (e instanceof RecordError) return { ok: false, reason: e.message };
    throw e;
  }
  return {
    ok: false,
    reason:
      'unknown layout (expected prompt/chosen/rejected, HH-RLHF chosen/rejected, ShareGPT conversations, or question/response_j/response_k)',
  };
}

class RecordError extends Error {}

function text(v: unknown, field: string): string {
  if (typeof v !== 'string') throw new RecordError(`"${field}" must be a string`);
  return v;
}

function role(from: unknown, field: string): string {
  switch (from) {
    case 'human':
    case 'user':
      return 'user';
    case 'gpt':
    case 'assistant':
      return 'assistant';
    case 'system':
      return 'system';
    default:
      throw new RecordError(`${field}: unknown role ${JSON.stringify(from)}`);
  }
}

function message(v: unknown, field: string): { role: string; content: string } {
  if (typeof v !== 'object' || v === null) throw new RecordError(`${field} must be an object`);
  const m = v as Record<string, unknown>;
  if ('from' in m)
    return { role: role(m['from'], `${field}.from`), content: text(m['value'], `${field}.value`) };
  return {
    role: role(m['role'], `${field}.role`),
    content: text(m['content'], `${field}.content`),
  };
}

function assistantText(v: unknown, field: string): string {
  if (typeof v === 'string') return v;
  if (typeof v !== 'object' || v === null)
    throw new RecordError(`"${field}" must be a string or an assistant message`);
  const list = Array.isArray(v) ? v : [v];
  if (list.length !== 1)
    throw new RecordError(`"${field}" must hold exactly one assistant message`);
  const m = message(list[0], field);
  if (m.role !== 'assistant')
    throw new RecordError(`"${field}" must be an assistant message (got ${m.role})`);
  return m.content;
}

function sharegpt(r: Record<string, unknown>, weight: number): NormalizedPreference {
  const turns = r['conversations'];
  if (!Array.isArray(turns) || turns.length === 0)
    throw new RecordError('"conversations" must be a non-empty list');
  const prompt = turns.map((t, i) => message(t, `conversations[${i}]`));
  if (prompt.at(-1)?.role !== 'user')
    throw new RecordError('"conversations" must end with a human turn');
  const chosen = assistantText(r['chosen'], 'chosen');
  const rejected = assistantText(r['rejected'], 'rejected');
  return {
    ok: true,
    format: 'sharegpt',
    example: { kind: 'chat', prompt, chosen, rejected, weight },
  };
}

function promptChosenRejected(r: Record<string, unknown>, weight: number): NormalizedPreference {
  const p = r['prompt'];
  const chosen = assistantText(r['chosen'], 'chosen');
  const rejected = assistantText(r['rejected'], 'rejected');
  if (typeof p === 'string')
    return {
      ok: true,
      format: 'prompt-chosen-rejected',
      example: { kind: 'text', prompt: p, chosen, rejected, weight },
    };
  if (!Array.isArray(p) || p.length === 0)
    throw new RecordError('"prompt" must be a string or a non-empty list of messages');
  const prompt = p.map((m, i) => message(m, `prompt[${i}]`));
  return {
    ok: true,
    format: 'prompt-chosen-rejected',
    example: { kind: 'chat', prompt, chosen, rejected, weight },
  };
}

/** Splits an HH-RLHF transcript into turns; text before the first marker is refused. */
function hhTurns(transcript: string, field: string): { role: string; content: string }[] {
  const marks = [...transcript.matchAll(HH_TURN)];
  if (marks.length === 0 || marks[0]?.index !== 0)
    throw new RecordError(
      `"${field}" is not an HH-RLHF transcript (it must start with "\\n\\nHuman:")`,
    );
  return marks.map((m, i) => ({
    role: m[1] === 'Human' ? 'user' : 'assistant',
    content: transcript.slice(
      (m.index ?? 0) + m[0].length,
      marks[i + 1]?.index ?? transcript.length,
    ),
  }));
}

function hhRlhf(r: Record<string, unknown>, weight: number): NormalizedPreference {
  const chosen = hhTurns(text(r['chosen'], 'chosen'), 'chosen');
  const rejected = hhTurns(text(r['rejected'], 'rejected'), 'rejected');
  // Longest shared run of turns after which both transcripts continue with an assistant turn.
  let cut = -1;
  for (let i = 0; i < Math.min(chosen.length, rejected.length); i++) {
    if (chosen[i]?.role === 'assistant' && rejected[i]?.role === 'assistant') cut = i;
    const a = chosen[i];
    const b = rejected[i];
    if (a?.role !== b?.role || a?.content !== b?.content) break;
  }
  if (cut <= 0)
    throw new RecordError('chosen and rejected share no prompt ending before an assistant turn');
  const rest = (turns: { role: string; content: string }[], field: string): string => {
    const tail = turns.slice(cut);
    if (tail.length !== 1)
      throw new RecordError(
        `"${field}" continues past one assistant reply after the shared prompt (${tail.length} turns)`,
      );
    return tail[0]?.content ?? '';
  };
  return {
    ok: true,
    format: 'hh-rlhf',
    example: {
      kind: 'chat',
      prompt: chosen.slice(0, cut),
      chosen: rest(chosen, 'chosen'),
      rejected: rest(rejected, 'rejected'),
      weight,
    },
  };
}
