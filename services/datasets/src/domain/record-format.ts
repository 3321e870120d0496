import { detectPreferenceLayout, normalizeSftRecord, PREFERENCE_CONTENT_KEYS } from '@lathe/llm';
import type { PreferenceLayout } from '@lathe/llm';
import { DatasetKind, RecordFormat } from '@lathe/contracts/lathe/datasets/v1/dataset';
import type { CanonicalRecord } from './canonical-record.js';
import { normalizePreference } from './preference-record.js';

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

/** The preference formats, as `@lathe/llm`'s layouts. */
const PREFERENCE_LAYOUTS: ReadonlyMap<RecordFormat, PreferenceLayout> = new Map<
  ConcreteFormat,
  PreferenceLayout
>([
  [RecordFormat.RECORD_FORMAT_PREFERENCE_PAIRS, 'prompt-chosen-rejected'],
  [RecordFormat.RECORD_FORMAT_HH_RLHF, 'hh-rlhf'],
  [RecordFormat.RECORD_FORMAT_SHAREGPT_PAIRS, 'sharegpt'],
  [RecordFormat.RECORD_FORMAT_STACK_EXCHANGE, 'stack-exchange'],
]);
const FORMAT_OF_LAYOUT = new Map<PreferenceLayout, ConcreteFormat>([
  ['prompt-chosen-rejected', RecordFormat.RECORD_FORMAT_PREFERENCE_PAIRS],
  ['hh-rlhf', RecordFormat.RECORD_FORMAT_HH_RLHF],
  ['sharegpt', RecordFormat.RECORD_FORMAT_SHAREGPT_PAIRS],
  ['stack-exchange', RecordFormat.RECORD_FORMAT_STACK_EXCHANGE],
]);

/** The dataset kind whose records a format yields. */
export function kindOfFormat(format: ConcreteFormat): DatasetKind {
  return PREFERENCE_LAYOUTS.has(format)
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
  const layout = detectPreferenceLayout(value);
  if (layout !== undefined) return FORMAT_OF_LAYOUT.get(layout);
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
  [RecordFormat.RECORD_FORMAT_PREFERENCE_PAIRS]: PREFERENCE_CONTENT_KEYS['prompt-chosen-rejected'],
  [RecordFormat.RECORD_FORMAT_HH_RLHF]: PREFERENCE_CONTENT_KEYS['hh-rlhf'],
  [RecordFormat.RECORD_FORMAT_SHAREGPT_PAIRS]: PREFERENCE_CONTENT_KEYS.sharegpt,
  [RecordFormat.RECORD_FORMAT_STACK_EXCHANGE]: PREFERENCE_CONTENT_KEYS['stack-exchange'],
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
  const layout = PREFERENCE_LAYOUTS.get(format);
  if (layout !== undefined) return normalizePreference(value, layout);
  switch (format) {
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
