import type { CanonicalMessage, CanonicalRecord, CanonicalRole } from './canonical-record.js';

/** The result of normalizing one preference line: the pair, or why it was rejected. */
export type NormalizedPreference =
  { readonly ok: true; readonly record: CanonicalRecord } | PreferenceFailure;

/** Why a preference line was rejected, with the JSON path of the offending field. */
export interface PreferenceFailure {
  readonly ok: false;
  readonly reason: string;
  readonly fieldPath: string;
}

type Field = { readonly ok: true; readonly messages: CanonicalMessage[] } | PreferenceFailure;

const SHAREGPT_ROLES: Readonly<Record<string, CanonicalRole>> = {
  human: 'user',
  user: 'user',
  gpt: 'assistant',
  assistant: 'assistant',
  system: 'system',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(fieldPath: string, reason: string): PreferenceFailure {
  return { ok: false, reason, fieldPath };
}

/** A string (one turn of `role`) or a list of `{role, content}` messages. */
function messagesField(value: unknown, field: string, role: CanonicalRole): Field {
  if (typeof value === 'string') return { ok: true, messages: [{ role, content: value }] };
  if (!Array.isArray(value))
    return fail(field, `"${field}" must be a string or an array of messages`);
  const out: CanonicalMessage[] = [];
  for (const [i, m] of value.entries()) {
    if (!isObject(m)) return fail(`${field}[${i}]`, `${field}[${i}] must be an object`);
    const r = m['role'];
    if (r !== 'system' && r !== 'user' && r !== 'assistant')
      return fail(
        `${field}[${i}].role`,
        `${field}[${i}].role must be system, user or assistant, got ${JSON.stringify(r)}`,
      );
    if (typeof m['content'] !== 'string')
      return fail(`${field}[${i}].content`, `${field}[${i}].content must be a string`);
    out.push({ role: r, content: m['content'] });
  }
  return { ok: true, messages: out };
}

function pair(
  prompt: CanonicalMessage[],
  chosen: CanonicalMessage[],
  rejected: CanonicalMessage[],
): NormalizedPreference {
  if (chosen.length === 0) return fail('chosen', '"chosen" has no continuation');
  if (rejected.length === 0) return fail('rejected', '"rejected" has no continuation');
  if (JSON.stringify(chosen) === JSON.stringify(rejected))
    return fail('rejected', '"chosen" and "rejected" are identical');
  return { ok: true, record: { type: 'preference', prompt, chosen, rejected } };
}

/** `{"prompt", "chosen", "rejected"}`, each a string or a list of messages. */
export function normalizePreferencePair(record: Record<string, unknown>): NormalizedPreference {
  const prompt = messagesField(record['prompt'], 'prompt', 'user');
  if (!prompt.ok) return prompt;
  const chosen = messagesField(record['chosen'], 'chosen', 'assistant');
  if (!chosen.ok) return chosen;
  const rejected = messagesField(record['rejected'], 'rejected', 'assistant');
  if (!rejected.ok) return rejected;
  if (prompt.messages.length === 0) return fail('prompt', '"prompt" is empty');
  return pair(prompt.messages, chosen.messages, rejected.messages);
}

const HH_TURN = /\n\n(Human|Assistant): /g;

/** Splits an HH-RLHF transcript ("\n\nHuman: ...\n\nAssistant: ...") into turns. */
export function parseHhTranscript(text: string): CanonicalMessage[] | string {
  const marks = [...text.matchAll(HH_TURN)];
  const first = marks[0];
  if (first === undefined) return 'has no "\\n\\nHuman: " or "\\n\\nAssistant: " turn';
  if (text.slice(0, first.index).trim() !== '')
    return 'has text before its first "\\n\\nHuman: " turn';
  return marks.map((m, i) => {
    const start = m.index + m[0].length;
    const end = marks[i + 1]?.index ?? text.length;
    return {
      role: m[1] === 'Human' ? 'user' : 'assistant',
      content: text.slice(start, end).trim(),
    } satisfies CanonicalMessage;
  });
}

/**
 * Anthropic HH-RLHF: `chosen` and `rejected` are whole transcripts sharing a prefix. The shared
 * turns up to the last user turn become the prompt, the rest the two continuations.
 */
export function normalizeHhRlhf(record: Record<string, unknown>): NormalizedPreference {
  const c = record['chosen'];
  const r = record['rejected'];
  if (typeof c !== 'string') return fail('chosen', '"chosen" must be a transcript string');
  if (typeof r !== 'string') return fail('rejected', '"rejected" must be a transcript string');
  const chosen = parseHhTranscript(c);
  if (typeof chosen === 'string') return fail('chosen', `"chosen" ${chosen}`);
  const rejected = parseHhTranscript(r);
  if (typeof rejected === 'string') return fail('rejected', `"rejected" ${rejected}`);
  let shared = 0;
  while (
    shared < chosen.length &&
    shared < rejected.length &&
    chosen[shared]?.role === rejected[shared]?.role &&
    chosen[shared]?.content === rejected[shared]?.content
  )
    shared++;
  // The prompt ends on the user turn the continuations answer.
  while (shared > 0 && chosen[shared - 1]?.role !== 'user') shared--;
  if (shared === 0) return fail('chosen', 'the transcripts share no prompt ending in a Human turn');
  return pair(chosen.slice(0, shared), chosen.slice(shared), rejected.slice(shared));
}

function shareGptTurn(value: unknown, field: string): Field {
  if (typeof value === 'string')
    return { ok: true, messages: [{ role: 'assistant', content: value }] };
  const list = Array.isArray(value) ? value : [value];
  const out: CanonicalMessage[] = [];
  for (const [i, t] of list.entries()) {
    const where = Array.isArray(value) ? `${field}[${i}]` : field;
    if (!isObject(t)) return fail(where, `${where} must be a string or a {from, value} turn`);
    const role = typeof t['from'] === 'string' ? SHAREGPT_ROLES[t['from']] : undefined;
    if (role === undefined)
      return fail(
        `${where}.from`,
        `${where}.from is not a known speaker: ${JSON.stringify(t['from'])}`,
      );
    if (typeof t['value'] !== 'string')
      return fail(`${where}.value`, `${where}.value must be a string`);
    out.push({ role, content: t['value'] });
  }
  return { ok: true, messages: out };
}

/** ShareGPT-style pairs: `{"conversations", "chosen", "rejected"}` with ShareGPT turns. */
export function normalizeShareGptPair(record: Record<string, unknown>): NormalizedPreference {
  const conv = record['conversations'];
  if (!Array.isArray(conv)) return fail('conversations', '"conversations" must be an array');
  const prompt = shareGptTurn(conv, 'conversations');
  if (!prompt.ok) return prompt;
  if (prompt.messages.length === 0) return fail('conversations', '"conversations" is empty');
  const chosen = shareGptTurn(record['chosen'], 'chosen');
  if (!chosen.ok) return chosen;
  const rejected = shareGptTurn(record['rejected'], 'rejected');
  if (!rejected.ok) return rejected;
  return pair(prompt.messages, chosen.messages, rejected.messages);
}
