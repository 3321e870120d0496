import type { ChatMessage } from '../tokenizer/chat-template.js';
import { parsePreferenceRecord } from '../data/preference-record.js';
import type { PreferenceLayout, PreferenceTurn } from '../data/preference-record.js';

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
export type PreferenceFormat = PreferenceLayout;

/** A normalized record, or why it cannot be used. */
export type NormalizedPreference =
  | { readonly ok: true; readonly format: PreferenceFormat; readonly example: PreferenceExample }
  | { readonly ok: false; readonly reason: string };

/** A continuation as the trainer uses it: exactly one assistant turn. */
function response(list: readonly PreferenceTurn[], field: string): string | { reason: string } {
  if (list.length !== 1) return { reason: `"${field}" must hold exactly one assistant message` };
  const m = list[0];
  if (m?.role !== 'assistant')
    return { reason: `"${field}" must be an assistant message (got ${m?.role ?? 'nothing'})` };
  return m.content;
}

/**
 * Normalizes one record for DPO. The layouts are `@lathe/llm`'s `parsePreferenceRecord` (the
 * same reader as the datasets service's); each continuation must be one assistant turn here.
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
  const parsed = parsePreferenceRecord(value);
  if (!parsed.ok) return { ok: false, reason: parsed.reason };
  const { layout, prompt } = parsed.record;
  const chosen = response(parsed.record.chosen, 'chosen');
  if (typeof chosen !== 'string') return { ok: false, ...chosen };
  const rejected = response(parsed.record.rejected, 'rejected');
  if (typeof rejected !== 'string') return { ok: false, ...rejected };
  const example: PreferenceExample =
    typeof prompt === 'string'
      ? { kind: 'text', prompt, chosen, rejected, weight }
      : {
          kind: 'chat',
          prompt: prompt.map((m) => ({ role: m.role, content: m.content })),
          chosen,
          rejected,
          weight,
        };
  return { ok: true, format: layout, example };
}
