import type { ModelRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import type { CurationSpec } from '@lathe/contracts/lathe/datasets/v1/curation';
import { PiiAction, PiiKind } from '@lathe/contracts/lathe/datasets/v1/curation';
import type { FieldViolation } from '@lathe/service-kit';
import type { MinHashOptions } from './minhash.js';
import type { JunkOptions, PiiKindName } from './record-filters.js';

/** A curation recipe with defaults applied and every value checked. */
export interface CurationOptions {
  readonly dedupeExact: boolean;
  readonly nearDuplicates: MinHashOptions | undefined;
  readonly dropEmptyTurns: boolean;
  /** Token bounds (0: none) and the registry model whose tokenizer counts. */
  readonly tokenLength:
    | { readonly tokenizer: ModelRef; readonly minTokens: number; readonly maxTokens: number }
    | undefined;
  readonly junk: JunkOptions | undefined;
  readonly pii: { readonly action: 'redact' | 'drop'; readonly kinds: PiiKindName[] } | undefined;
  readonly evalFraction: number;
  readonly splitSeed: bigint;
}

/** A curation recipe that cannot run, with every bad field named. */
export class CurationSpecError extends Error {
  constructor(readonly violations: FieldViolation[]) {
    super(
      `invalid curation spec: ${violations.map((v) => `${v.field} ${v.description}`).join('; ')}`,
    );
    this.name = 'CurationSpecError';
  }
}

const PII_KIND_NAMES: Partial<Record<PiiKind, PiiKindName>> = {
  [PiiKind.PII_KIND_EMAIL]: 'email',
  [PiiKind.PII_KIND_PHONE]: 'phone',
};

/**
 * Applies the contract's defaults (near-duplicates: threshold 0.85, shingles of 5 words, 128
 * permutations; junk: runs over 64, repeated trigrams over 0.3) and refuses what cannot run.
 *
 * @throws CurationSpecError listing every bad field
 */
export function resolveCurationOptions(spec: CurationSpec | undefined): CurationOptions {
  const v: FieldViolation[] = [];
  const s = spec ?? {
    dedupeExact: false,
    dropEmptyTurns: false,
    nearDuplicates: undefined,
    tokenLength: undefined,
    junk: undefined,
    pii: undefined,
    split: undefined,
  };
  let nearDuplicates: MinHashOptions | undefined;
  if (s.nearDuplicates !== undefined) {
    const n = s.nearDuplicates;
    const threshold = n.jaccardThreshold ?? 0.85;
    const shingleSize = n.shingleSize ?? 5;
    const numPermutations = n.numPermutations ?? 128;
    if (!(threshold > 0 && threshold <= 1))
      v.push({
        field: 'spec.nearDuplicates.jaccardThreshold',
        description: `must be in (0, 1], got ${threshold}`,
      });
    if (!(shingleSize >= 1 && shingleSize <= 32))
      v.push({
        field: 'spec.nearDuplicates.shingleSize',
        description: `must be 1 to 32, got ${shingleSize}`,
      });
    if (!(numPermutations >= 8 && numPermutations <= 1024))
      v.push({
        field: 'spec.nearDuplicates.numPermutations',
        description: `must be 8 to 1024, got ${numPermutations}`,
      });
    nearDuplicates = {
      threshold,
      shingleSize,
      numPermutations,
      seed: Number(BigInt(n.seed) & 0xffffffffn),
    };
  }
  let tokenLength: CurationOptions['tokenLength'];
  if (s.tokenLength !== undefined) {
    const t = s.tokenLength;
    if (t.tokenizer === undefined || t.tokenizer.name === '' || t.tokenizer.selector === undefined)
      v.push({
        field: 'spec.tokenLength.tokenizer',
        description: 'must name a registry model and its version or alias',
      });
    if (t.minTokens < 0)
      v.push({ field: 'spec.tokenLength.minTokens', description: 'must not be negative' });
    if (t.maxTokens < 0)
      v.push({ field: 'spec.tokenLength.maxTokens', description: 'must not be negative' });
    if (t.maxTokens > 0 && t.minTokens > t.maxTokens)
      v.push({
        field: 'spec.tokenLength.minTokens',
        description: `${t.minTokens} is above maxTokens ${t.maxTokens}`,
      });
    if (t.tokenizer !== undefined)
      tokenLength = { tokenizer: t.tokenizer, minTokens: t.minTokens, maxTokens: t.maxTokens };
  }
  let junk: JunkOptions | undefined;
  if (s.junk !== undefined) {
    junk = {
      maxCharRun: s.junk.maxCharRun ?? 64,
      maxRepeatedNgramFraction: s.junk.maxRepeatedNgramFraction ?? 0.3,
    };
    if (junk.maxCharRun < 0)
      v.push({ field: 'spec.junk.maxCharRun', description: 'must not be negative' });
    if (junk.maxRepeatedNgramFraction < 0 || junk.maxRepeatedNgramFraction > 1)
      v.push({ field: 'spec.junk.maxRepeatedNgramFraction', description: 'must be in [0, 1]' });
  }
  let pii: CurationOptions['pii'];
  if (s.pii !== undefined) {
    const action =
      s.pii.action === PiiAction.PII_ACTION_REDACT
        ? 'redact'
        : s.pii.action === PiiAction.PII_ACTION_DROP
          ? 'drop'
          : undefined;
    if (action === undefined)
      v.push({ field: 'spec.pii.action', description: 'must be REDACT or DROP' });
    const kinds: PiiKindName[] = [];
    for (const [i, k] of (s.pii.kinds.length === 0
      ? [PiiKind.PII_KIND_EMAIL, PiiKind.PII_KIND_PHONE]
      : s.pii.kinds
    ).entries()) {
      const name = PII_KIND_NAMES[k];
      if (name === undefined)
        v.push({
          field: `spec.pii.kinds[${i}]`,
          description: `${PiiKind[k] ?? String(k)} is not supported yet (EMAIL and PHONE are)`,
        });
      else kinds.push(name);
    }
    if (action !== undefined) pii = { action, kinds };
  }
  const evalFraction = s.split?.evalFraction ?? 0;
  if (!(evalFraction >= 0 && evalFraction <= 0.5))
    v.push({
      field: 'spec.split.evalFraction',
      description: `must be in [0, 0.5], got ${evalFraction}`,
    });
  if (v.length > 0) throw new CurationSpecError(v);
  return {
    dedupeExact: s.dedupeExact,
    nearDuplicates,
    dropEmptyTurns: s.dropEmptyTurns,
    tokenLength,
    junk,
    pii,
    evalFraction,
    splitSeed: BigInt(s.split?.seed ?? 0),
  };
}
