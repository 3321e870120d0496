// Row shapes read back from the preferences schema, and the JSON forms of stored messages.
import type { ChatMessage } from '@lathe/contracts/lathe/common/v1/chat';
import type { Candidate } from '@lathe/contracts/lathe/preferences/v1/task';

/** A chat message as stored in jsonb. */
export interface StoredMessage {
  readonly role: number;
  readonly content: string;
}

/** A candidate as stored in jsonb (source included: it never leaves through assignments). */
export interface StoredCandidate {
  readonly id: string;
  readonly messages: readonly StoredMessage[];
  readonly source: string;
}

/** Stored form of chat messages. */
export function storeMessages(messages: readonly ChatMessage[]): StoredMessage[] {
  return messages.map((m) => ({ role: m.role, content: m.content }));
}

/** Contract form of stored chat messages. */
export function loadMessages(stored: readonly StoredMessage[]): ChatMessage[] {
  return stored.map((m) => ({ role: m.role, content: m.content }));
}

/** A candidate as shown to annotators: without its source, so judgements stay blind. */
export function blindCandidate(stored: StoredCandidate): Candidate {
  return { id: stored.id, messages: loadMessages(stored.messages), source: '' };
}

/** Milliseconds of a protobuf Duration. */
export function durationMs(d: { seconds: number; nanos: number } | undefined): number {
  return d === undefined ? 0 : d.seconds * 1000 + Math.floor(d.nanos / 1e6);
}

/** A protobuf Duration of `ms` milliseconds. */
export function msDuration(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

/** A number from an int8 column (bigint) or a count. */
export function num(value: unknown): number {
  return typeof value === 'bigint' ? Number(value) : Number(value ?? 0);
}
