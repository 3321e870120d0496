import type { AdapterCompatibility, QuantizationState } from './model-version.js';

function describeQuantization(q: QuantizationState | undefined): string {
  return q === undefined
    ? 'unquantized'
    : `${q.scheme} (block ${String(q.blockSize)}${q.doubleQuant ? ', double-quantized' : ''})`;
}

/**
 * Every way `actual` (a candidate base) differs from what an adapter was trained with, as
 * sentences naming both values; empty when the adapter is valid with it.
 */
export function compatibilityDifferences(
  expected: AdapterCompatibility,
  actual: AdapterCompatibility,
): string[] {
  const out: string[] = [];
  if (expected.baseManifestSha256 !== actual.baseManifestSha256)
    out.push(
      `base files differ (manifest ${actual.baseManifestSha256.slice(0, 12)}…, adapter trained on ${expected.baseManifestSha256.slice(0, 12)}…)`,
    );
  const eq = describeQuantization(expected.quantization);
  const aq = describeQuantization(actual.quantization);
  if (eq !== aq) out.push(`quantization differs (base is ${aq}, adapter trained on ${eq})`);
  if (expected.chatTemplateSha256 !== actual.chatTemplateSha256)
    out.push(
      `chat template differs (base ${actual.chatTemplateSha256 === '' ? 'has none' : `hashes to ${actual.chatTemplateSha256.slice(0, 12)}…`}, adapter trained with ${expected.chatTemplateSha256 === '' ? 'none' : expected.chatTemplateSha256.slice(0, 12) + '…'})`,
    );
  return out;
}
