import { createHash } from 'node:crypto';

/** A chat role in Lathe's canonical form; assistant turns are the ones trained on. */
export type CanonicalRole = 'system' | 'user' | 'assistant';

/** One turn of a canonical conversation. */
export interface CanonicalMessage {
  readonly role: CanonicalRole;
  readonly content: string;
}

/**
 * The one form every uploaded format is normalized to. Conversations train on their assistant
 * turns, plain text on all of it, and preference pairs on the chosen/rejected continuations
 * after the shared prompt (the trainer's DPO convention).
 */
export type CanonicalRecord =
  | { readonly type: 'conversation'; readonly messages: readonly CanonicalMessage[] }
  | { readonly type: 'text'; readonly text: string }
  | {
      readonly type: 'preference';
      readonly prompt: readonly CanonicalMessage[];
      readonly chosen: readonly CanonicalMessage[];
      readonly rejected: readonly CanonicalMessage[];
    };

function messages(list: readonly CanonicalMessage[]): CanonicalMessage[] {
  // Rebuilt with a fixed key order, so the JSON of equal records is byte-identical.
  return list.map((m) => ({ role: m.role, content: m.content }));
}

/**
 * The canonical JSON of a record: fixed key order, no whitespace. Exact deduplication and
 * record ids compare these bytes.
 */
export function canonicalJson(record: CanonicalRecord): string {
  switch (record.type) {
    case 'conversation':
      return JSON.stringify({ type: record.type, messages: messages(record.messages) });
    case 'text':
      return JSON.stringify({ type: record.type, text: record.text });
    case 'preference':
      return JSON.stringify({
        type: record.type,
        prompt: messages(record.prompt),
        chosen: messages(record.chosen),
        rejected: messages(record.rejected),
      });
  }
}

/** A record's id: lowercase hex SHA-256 of its canonical JSON. */
export function recordId(record: CanonicalRecord): string {
  return createHash('sha256').update(canonicalJson(record)).digest('hex');
}

/** Every turn of a record in order (plain text counts as one turn), for filters and statistics. */
export function recordTurns(record: CanonicalRecord): CanonicalMessage[] {
  switch (record.type) {
    case 'conversation':
      return [...record.messages];
    case 'text':
      return [{ role: 'user', content: record.text }];
    case 'preference':
      return [...record.prompt, ...record.chosen, ...record.rejected];
  }
}

/** All the record's text joined by newlines: what shingles, excerpts and character counts see. */
export function recordText(record: CanonicalRecord): string {
  return record.type === 'text'
    ? record.text
    : recordTurns(record)
        .map((m) => m.content)
        .join('\n');
}

/** Applies `edit` to every turn's content (used by PII redaction). */
export function mapRecordText(
  record: CanonicalRecord,
  edit: (text: string) => string,
): CanonicalRecord {
  const map = (list: readonly CanonicalMessage[]): CanonicalMessage[] =>
    list.map((m) => ({ role: m.role, content: edit(m.content) }));
  switch (record.type) {
    case 'conversation':
      return { type: 'conversation', messages: map(record.messages) };
    case 'text':
      return { type: 'text', text: edit(record.text) };
    case 'preference':
      return {
        type: 'preference',
        prompt: map(record.prompt),
        chosen: map(record.chosen),
        rejected: map(record.rejected),
      };
  }
}
