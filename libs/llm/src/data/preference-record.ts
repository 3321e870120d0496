/** The preference record layouts {@link parsePreferenceRecord} reads. */
export type PreferenceLayout = 'prompt-chosen-rejected' | 'hh-rlhf' | 'sharegpt' | 'stack-exchange';

/** One turn of a preference record. */
export interface PreferenceTurn {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/**
 * A preference record in one shape, whatever its layout: the prompt (a list of turns, or a plain
 * text prompt used as written) and the two continuations (lists of turns; usually one assistant
 * turn each).
 */
export interface PreferenceRecord {
  readonly layout: PreferenceLayout;
  readonly prompt: string | readonly PreferenceTurn[];
  readonly chosen: readonly PreferenceTurn[];
  readonly rejected: readonly PreferenceTurn[];
}

/** A parsed record, or why it cannot be read, with the JSON path of the offending field. */
export type ParsedPreference =
  | { readonly ok: true; readonly record: PreferenceRecord }
  | { readonly ok: false; readonly reason: string; readonly fieldPath: string };

/** The top-level keys each layout reads; any other key of a record is not its content. */
export const PREFERENCE_CONTENT_KEYS: Readonly<Record<PreferenceLayout, readonly string[]>> = {
  'prompt-chosen-rejected': ['prompt', 'chosen', 'rejected'],
  'hh-rlhf': ['chosen', 'rejected'],
  sharegpt: ['conversations', 'chosen', 'rejected'],
  'stack-exchange': ['question', 'response_j', 'response_k'],
};

class LayoutError extends Error {
  constructor(
    readonly fieldPath: string,
    reason: string,
  ) {
    super(reason);
    this.name = 'LayoutError';
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The layout a record's keys announce, or undefined. `conversations` (ShareGPT) and `question`
 * (StackExchange) come first because both may also carry other layouts' keys.
 */
export function detectPreferenceLayout(value: unknown): PreferenceLayout | undefined {
  if (!isObject(value)) return undefined;
  if ('conversations' in value && 'chosen' in value && 'rejected' in value) return 'sharegpt';
  if ('question' in value && 'response_j' in value) return 'stack-exchange';
  if ('prompt' in value && 'chosen' in value && 'rejected' in value)
    return 'prompt-chosen-rejected';
  if ('chosen' in value && 'rejected' in value) return 'hh-rlhf';
  return undefined;
}

const ROLES: Readonly<Record<string, PreferenceTurn['role']>> = {
  human: 'user',
  user: 'user',
  gpt: 'assistant',
  assistant: 'assistant',
  system: 'system',
};

function text(v: unknown, field: string): string {
  if (typeof v !== 'string') throw new LayoutError(field, `"${field}" must be a string`);
  return v;
}

/** `{role, content}` (OpenAI, TRL) or `{from, value}` (ShareGPT). */
function turn(v: unknown, where: string): PreferenceTurn {
  if (!isObject(v)) throw new LayoutError(where, `${where} must be an object`);
  const [roleKey, contentKey] = 'from' in v ? ['from', 'value'] : ['role', 'content'];
  const name = v[roleKey];
  const role = typeof name === 'string' ? ROLES[name] : undefined;
  if (role === undefined)
    throw new LayoutError(
      `${where}.${roleKey}`,
      `${where}.${roleKey}: unknown role ${JSON.stringify(name)}`,
    );
  const content = v[contentKey];
  if (typeof content !== 'string')
    throw new LayoutError(`${where}.${contentKey}`, `${where}.${contentKey} must be a string`);
  return { role, content };
}

function turns(v: unknown, field: string): PreferenceTurn[] {
  if (!Array.isArray(v) || v.length === 0)
    throw new LayoutError(field, `"${field}" must be a non-empty list of messages`);
  return v.map((t, i) => turn(t, `${field}[${i}]`));
}

/** A continuation: a string (one assistant turn), one message, or a list of messages. */
function continuation(v: unknown, field: string): PreferenceTurn[] {
  if (typeof v === 'string') return [{ role: 'assistant', content: v }];
  if (Array.isArray(v)) return turns(v, field);
  if (isObject(v)) return [turn(v, field)];
  throw new LayoutError(field, `"${field}" must be a string or an assistant message`);
}

const HH_TURN = /\n\n(Human|Assistant): ?/g;

/** Splits an HH-RLHF transcript into turns (contents trimmed); text before the first is refused. */
export function parseHhTranscript(transcript: string, field: string): PreferenceTurn[] {
  const marks = [...transcript.matchAll(HH_TURN)];
  const first = marks[0];
  if (first === undefined || transcript.slice(0, first.index).trim() !== '')
    throw new LayoutError(
      field,
      `"${field}" is not an HH-RLHF transcript (it must start with "\\n\\nHuman:")`,
    );
  return marks.map((m, i) => ({
    role: m[1] === 'Human' ? 'user' : 'assistant',
    content: transcript
      .slice(m.index + m[0].length, marks[i + 1]?.index ?? transcript.length)
      .trim(),
  }));
}

function hhRlhf(r: Record<string, unknown>): PreferenceRecord {
  const chosen = parseHhTranscript(text(r['chosen'], 'chosen'), 'chosen');
  const rejected = parseHhTranscript(text(r['rejected'], 'rejected'), 'rejected');
  // The longest shared run of turns, cut back so that it ends on the user turn both answer.
  let shared = 0;
  while (
    shared < Math.min(chosen.length, rejected.length) &&
    chosen[shared]?.role === rejected[shared]?.role &&
    chosen[shared]?.content === rejected[shared]?.content
  )
    shared++;
  while (shared > 0 && chosen[shared - 1]?.role !== 'user') shared--;
  if (shared === 0 || chosen.length === shared || rejected.length === shared)
    throw new LayoutError(
      'chosen',
      'chosen and rejected share no prompt ending before an assistant turn',
    );
  return {
    layout: 'hh-rlhf',
    prompt: chosen.slice(0, shared),
    chosen: chosen.slice(shared),
    rejected: rejected.slice(shared),
  };
}

function read(r: Record<string, unknown>, layout: PreferenceLayout): PreferenceRecord {
  switch (layout) {
    case 'prompt-chosen-rejected': {
      const p = r['prompt'];
      if (typeof p !== 'string' && (!Array.isArray(p) || p.length === 0))
        throw new LayoutError(
          'prompt',
          '"prompt" must be a string or a non-empty list of messages',
        );
      return {
        layout,
        prompt: typeof p === 'string' ? p : turns(p, 'prompt'),
        chosen: continuation(r['chosen'], 'chosen'),
        rejected: continuation(r['rejected'], 'rejected'),
      };
    }
    case 'hh-rlhf':
      return hhRlhf(r);
    case 'sharegpt': {
      const prompt = turns(r['conversations'], 'conversations');
      if (prompt.at(-1)?.role !== 'user')
        throw new LayoutError('conversations', '"conversations" must end with a human turn');
      return {
        layout,
        prompt,
        chosen: continuation(r['chosen'], 'chosen'),
        rejected: continuation(r['rejected'], 'rejected'),
      };
    }
    case 'stack-exchange':
      return {
        layout,
        prompt: [{ role: 'user', content: text(r['question'], 'question') }],
        chosen: [{ role: 'assistant', content: text(r['response_j'], 'response_j') }],
        rejected: [{ role: 'assistant', content: text(r['response_k'], 'response_k') }],
      };
  }
}

/**
 * Reads one preference record, in `layout` or in the one its keys announce:
 * - `{prompt, chosen, rejected}`: a text prompt (kept as written) or a list of messages, and each
 *   continuation a string (one assistant turn), one message, or a list of messages (TRL's
 *   conversational form);
 * - HH-RLHF `{chosen, rejected}` transcripts (`\n\nHuman: ...\n\nAssistant: ...`): the shared
 *   turns up to the last user turn are the prompt, the rest the continuations;
 * - ShareGPT `{conversations, chosen, rejected}` with `{from, value}` turns, ending on a human turn;
 * - StackExchange `{question, response_j (preferred), response_k}`.
 * Messages are `{role, content}` or `{from, value}` (human/user, gpt/assistant, system). This is
 * the one reader of both the datasets service and the DPO trainer, so both accept the same records.
 */
export function parsePreferenceRecord(value: unknown, layout?: PreferenceLayout): ParsedPreference {
  if (!isObject(value))
    return { ok: false, reason: 'a preference record must be a JSON object', fieldPath: '' };
  const chosen = layout ?? detectPreferenceLayout(value);
  if (chosen === undefined)
    return {
      ok: false,
      reason:
        'unknown layout (expected prompt/chosen/rejected, HH-RLHF chosen/rejected, ShareGPT conversations, or question/response_j/response_k)',
      fieldPath: '',
    };
  try {
    return { ok: true, record: read(value, chosen) };
  } catch (e) {
    if (e instanceof LayoutError) return { ok: false, reason: e.message, fieldPath: e.fieldPath };
    throw e;
  }
}
