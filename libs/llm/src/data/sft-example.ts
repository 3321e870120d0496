import type { ChatMessage } from '../tokenizer/chat-template.js';

/**
 * The canonical supervised fine-tuning example every input format is normalized to: a
 * conversation whose assistant turns are trained on, or plain text trained on entirely.
 */
export type SftExample =
  | { readonly kind: 'chat'; readonly messages: readonly ChatMessage[] }
  | { readonly kind: 'text'; readonly text: string };

/** The input format a record was recognised as. */
export type SftFormat = 'openai' | 'alpaca' | 'sharegpt' | 'text';

/** The result of normalizing one record: the example, or why it was rejected. */
export type NormalizedRecord =
  | { readonly ok: true; readonly format: SftFormat; readonly example: SftExample }
  | { readonly ok: false; readonly reason: string };

const SHAREGPT_ROLES: Readonly<Record<string, ChatMessage['role']>> = {
  human: 'user',
  user: 'user',
  gpt: 'assistant',
  assistant: 'assistant',
  chatgpt: 'assistant',
  bing: 'assistant',
  system: 'system',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(reason: string): NormalizedRecord {
  return { ok: false, reason };
}

function chat(format: SftFormat, messages: ChatMessage[]): NormalizedRecord {
  if (!messages.some((m) => m.role === 'assistant' && m.content !== '')) {
    return fail('no non-empty assistant message to train on');
  }
  return { ok: true, format, example: { kind: 'chat', messages } };
}

/** OpenAI content is a string or a list of parts; only text parts can be trained on. */
function openAiContent(content: unknown, where: string): string | Error {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    const texts: string[] = [];
    for (const part of content) {
      if (!isObject(part) || part['type'] !== 'text' || typeof part['text'] !== 'string') {
        return new Error(`${where}.content: only text parts are supported`);
      }
      texts.push(part['text']);
    }
    return texts.join('');
  }
  return new Error(`${where}.content must be a string`);
}

function normalizeOpenAi(messages: unknown): NormalizedRecord {
  if (!Array.isArray(messages)) return fail('"messages" must be an array');
  const out: ChatMessage[] = [];
  for (const [i, m] of messages.entries()) {
    if (!isObject(m)) return fail(`messages[${i}] must be an object`);
    const role = m['role'];
    if (role !== 'system' && role !== 'user' && role !== 'assistant') {
      return fail(
        `messages[${i}].role must be system, user or assistant, got ${JSON.stringify(role)}`,
      );
    }
    const content = openAiContent(m['content'], `messages[${i}]`);
    if (content instanceof Error) return fail(content.message);
    out.push({ role, content });
  }
  return chat('openai', out);
}

function normalizeShareGpt(record: Record<string, unknown>): NormalizedRecord {
  const turns = record['conversations'];
  if (!Array.isArray(turns)) return fail('"conversations" must be an array');
  const out: ChatMessage[] = [];
  if (typeof record['system'] === 'string' && record['system'] !== '') {
    out.push({ role: 'system', content: record['system'] });
  }
  for (const [i, t] of turns.entries()) {
    if (!isObject(t)) return fail(`conversations[${i}] must be an object`);
    const from = t['from'];
    const role = typeof from === 'string' ? SHAREGPT_ROLES[from] : undefined;
    if (role === undefined)
      return fail(`conversations[${i}].from is not a known speaker: ${JSON.stringify(from)}`);
    if (typeof t['value'] !== 'string') return fail(`conversations[${i}].value must be a string`);
    out.push({ role, content: t['value'] });
  }
  return chat('sharegpt', out);
}

function normalizeAlpaca(record: Record<string, unknown>): NormalizedRecord {
  const { instruction, input, output, system } = record;
  if (typeof instruction !== 'string') return fail('"instruction" must be a string');
  if (typeof output !== 'string') return fail('"output" must be a string');
  if (input !== undefined && input !== null && typeof input !== 'string')
    return fail('"input" must be a string');
  const messages: ChatMessage[] = [];
  if (typeof system === 'string' && system !== '')
    messages.push({ role: 'system', content: system });
  // Alpaca's own prompt puts the input after the instruction; keep both in the user turn.
  const user =
    typeof input === 'string' && input !== '' ? `${instruction}\n\n${input}` : instruction;
  messages.push({ role: 'user', content: user }, { role: 'assistant', content: output });
  return chat('alpaca', messages);
}

/**
 * Recognises a record's format and normalizes it. Precedence when keys overlap: `messages`
 * (OpenAI chat), `conversations` (ShareGPT), `instruction`+`output` (Alpaca; its optional `text`
 * rendering is ignored), then `text` alone.
 */
export function normalizeSftRecord(record: unknown): NormalizedRecord {
  if (!isObject(record)) return fail('a record must be a JSON object');
  if ('messages' in record) return normalizeOpenAi(record['messages']);
  if ('conversations' in record) return normalizeShareGpt(record);
  if ('instruction' in record || 'output' in record) return normalizeAlpaca(record);
  if ('text' in record) {
    const text = record['text'];
    if (typeof text !== 'string' || text === '') return fail('"text" must be a non-empty string');
    return { ok: true, format: 'text', example: { kind: 'text', text } };
  }
  return fail(
    'unknown format: expected "messages", "conversations", "instruction"/"output" or "text"',
  );
}
