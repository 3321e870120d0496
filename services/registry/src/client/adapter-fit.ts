import type { ModelVersion } from '@lathe/contracts/lathe/registry/v1/model';

function short(digest: string | undefined): string {
  return digest === undefined || digest === '' ? '(none)' : `${digest.slice(0, 12)}…`;
}

function quantization(v: ModelVersion): string {
  const q = v.quantization;
  return q === undefined
    ? 'unquantized'
    : `${q.scheme} (block ${String(q.blockSize)}${q.doubleQuant ? ', double-quantized' : ''})`;
}

/**
 * What keeps an adapter version from being used with a candidate base version, from the two
 * versions as the registry returns them; empty when it fits. The base's manifest digest covers
 * its config, weights and tokenizer files (chat template included), so a base that is neither
 * the adapter's base nor the quantized copy it was trained against is named with both digests.
 */
export function adapterBaseDifferences(adapter: ModelVersion, base: ModelVersion): string[] {
  const info = adapter.adapter;
  if (info === undefined) return [`${adapter.ref?.name ?? ''} is not an adapter`];
  const trainedOn = info.base?.manifestSha256;
  const qTrainedOn = info.quantizedBase?.manifestSha256;
  const candidate = base.ref?.manifestSha256;
  const out: string[] = [];
  const sourceOfCandidate = base.quantization?.source?.manifestSha256 ?? candidate;
  if (sourceOfCandidate !== trainedOn)
    out.push(
      `base files differ (manifest ${short(sourceOfCandidate)}, adapter trained on ${short(trainedOn)})`,
    );
  if (qTrainedOn !== undefined && qTrainedOn !== '' && candidate !== qTrainedOn)
    out.push(
      `quantization differs (base is ${quantization(base)}, adapter trained on the quantized copy ${short(qTrainedOn)})`,
    );
  if ((qTrainedOn === undefined || qTrainedOn === '') && base.quantization !== undefined)
    out.push(
      `quantization differs (base is ${quantization(base)}, adapter trained on unquantized weights)`,
    );
  return out;
}
