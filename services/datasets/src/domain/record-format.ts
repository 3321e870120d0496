import { normalizeSftRecord } from '@lathe/llm';
import { DatasetKind, RecordFormat } from '@lathe/contracts/lathe/datasets/v1/dataset';
import type { CanonicalRecord } from './canonical-record.js';
import {
  normalizeHhRlhf,
  normalizePreferencePair,
  normalizeShareGptPair,
} from './preference-record.js';

/** A concrete line layout (every {@link RecordFormat} but UNSPECIFIED and AUTO). */
export type ConcreteFormat = Exclude<
  RecordFormat,
  | RecordFormat.RECORD_FORMAT_UNSPECIFIED
  | RecordFormat.RECORD_FORMAT_AUTO
  | RecordFormat.UNRECOGNIZED
>;

/** One line turned into a record, or the reason it could not be. */
export type LineResult =
  | {
      readonly ok: true;
      readonly record: CanonicalRecord;
      /** The line's fields outside its format's content ({@link lineMetadata}). */
      readonly metadata?: Readonly<Record<string, unknown>>;
    }
  | { readonly ok: false; readonly reason: string; readonly fieldPath: string };

const PREFERENCE_FORMATS: ReadonlySet<RecordFormat> = new Set([
  RecordFormat.RECORD_FORMAT_PREFERENCE_PAIRS,
  RecordFormat.RECORD_FORMAT_HH_RLHF,
  RecordFormat.RECORD_FORMAT_SHAREGPT_PAIRS,
]);

/** The dataset kind whose records a format yields. */
export function kindOfFormat(format: ConcreteFormat): DatasetKind {
  return PREFERENCE_FORMATS.has(format)
    ? DatasetKind.DATASET_KIND_PREFERENCE
    : DatasetKind.DATASET_KIND_SFT;
}

/** Lowercase name of a format for messages, `sharegpt_pairs`. */
export function formatName(format: RecordFormat): string {
  return (RecordFormat[format] ?? String(format)).replace(/^RECORD_FORMAT_/, '').toLowerCase();
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The format a parsed line looks like, by its keys; undefined when it matches none. Preference
 * layouts are tested first because they share keys with SFT ones (`conversations`).
 */
export function detectFormat(value: unknown): ConcreteFormat | undefined {
  if (!isObject(value)) return undefined;
  if ('chosen' in value && 'rejected' in value) {
    if ('prompt' in value) return RecordFormat.RECORD_FORMAT_PREFERENCE_PAIRS;
    if ('conversations' in value) return RecordFormat.RECORD_FORMAT_SHAREGPT_PAIRS;
    return RecordFormat.RECORD_FORMAT_HH_RLHF;
  }
  if ('messages' in value) return RecordFormat.RECORD_FORMAT_CHAT;
  if ('conversations' in value) return RecordFormat.RECORD_FORMAT_SHAREGPT;
  if ('instruction' in value || 'output' in value) return RecordFormat.RECORD_FORMAT_ALPACA;
  if ('text' in value) return RecordFormat.RECORD_FORMAT_TEXT;
  return undefined;
}

/** The top-level keys each format reads as content; any other key of a line is metadata. */
const CONTENT_KEYS: Readonly<Record<ConcreteFormat, readonly string[]>> = {
  [RecordFormat.RECORD_FORMAT_CHAT]: ['messages'],
  [RecordFormat.RECORD_FORMAT_SHAREGPT]: ['conversations', 'system'],
  // Alpaca's optional `text` is a rendering of the other fields, not extra information.
  [RecordFormat.RECORD_FORMAT_ALPACA]: ['instruction', 'input', 'output', 'system', 'text'],
  [RecordFormat.RECORD_FORMAT_TEXT]: ['text'],
  [RecordFormat.RECORD_FORMAT_PREFERENCE_PAIRS]: ['prompt', 'chosen', 'rejected'],
  [RecordFormat.RECORD_FORMAT_HH_RLHF]: ['chosen', 'rejected'],
  [RecordFormat.RECORD_FORMAT_SHAREGPT_PAIRS]: ['conversations', 'chosen', 'rejected'],
};

/**
 * A line's fields that are not its format's content (e.g. a snapshot pair's `provenance` and
 * `weight`), or undefined when there are none. They travel with the record as its metadata.
 */
export function lineMetadata(
  value: Readonly<Record<string, unknown>>,
  format: ConcreteFormat,
): Record<string, unknown> | undefined {
  const content = new Set(CONTENT_KEYS[format]);
  const extra = Object.entries(value).filter(([k, v]) => !content.has(k) && v !== undefined);
  return extra.length === 0 ? undefined : Object.fromEntries(extra);
}

function withMetadata(
  result: LineResult,
  value: Readonly<Record<string, unknown>>,
  format: ConcreteFormat,
): LineResult {
  if (!result.ok) return result;
  const metadata = lineMetadata(value, format);
  return metadata === undefined ? result : { ...result, metadata };
}

/**
 * Normalizes one parsed line in `format`; fields outside the format's content come back as
 * `metadata`. SFT layouts go through `@lathe/llm`'s
 * `normalizeSftRecord` (the trainer's own parser, so both agree); preference layouts through
 * this service's preference normalizers.
 */
export function normalizeLine(value: unknown, format: ConcreteFormat): LineResult {
  if (!isObject(value))
    return { ok: false, reason: 'a record must be a JSON object', fieldPath: '' };
  const seen = detectFormat(value);
  if (seen !== format)
    return {
      ok: false,
      reason:
        seen === undefined
          ? `not a ${formatName(format)} record (keys: ${Object.keys(value).join(', ') || 'none'})`
          : `a ${formatName(seen)} record in a ${formatName(format)} upload`,
      fieldPath: '',
    };
  return withMetadata(normalizeContent(value, format), value, format);
}

function normalizeContent(value: Record<string, unknown>, format: ConcreteFormat): LineResult {
  switch (format) {
    case RecordFormat.RECORD_FORMAT_PREFERENCE_PAIRS:
      return normalizePreferencePair(value);
    case RecordFormat.RECORD_FORMAT_HH_RLHF:
      return normalizeHhRlhf(value);
    case RecordFormat.RECORD_FORMAT_SHAREGPT_PAIRS:
      return normalizeShareGptPair(value);
    default: {
      const sft = normalizeSftRecord(value);
      if (!sft.ok) return { ok: false, reason: sft.reason, fieldPath: fieldPathOf(sft.reason) };
      const example = sft.example;
      return example.kind === 'text'
        ? { ok: true, record: { type: 'text', text: example.text } }
        : {
            ok: true,
            record: {
              type: 'conversation',
              messages: example.messages.map((m) => ({
                role: m.role as 'system' | 'user' | 'assistant',
                content: m.content,
              })),
            },
          };
    }
  }
}

/** The JSON path at the head of an `@lathe/llm` reason (`messages[2].role must ...`). */
function fieldPathOf(reason: string): string {
  const quoted = /^"([\w]+)"/.exec(reason);
  if (quoted?.[1] !== undefined) return quoted[1];
  const path = /^([\w]+(?:\[\d+\])?(?:\.[\w]+)?)\s/.exec(reason);
  return path?.[1] !== undefined && /[[.]/.test(path[1]) ? path[1] : '';
}
