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
  | { readonly ok: true; readonly record: CanonicalRecord }
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

/**
 * Normalizes one parsed line in `format`. SFT layouts go through `@lathe/llm`'s
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
