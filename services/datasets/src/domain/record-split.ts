import { createHash } from 'node:crypto';

/**
 * Whether a record goes to eval: a uniform number drawn from SHA-256(seed, record id) is below
 * the eval fraction. It depends on the record and the seed only, so the same record always lands
 * on the same side, whatever else is in the dataset or in which order.
 */
export function isEvalRecord(id: string, seed: bigint | number, evalFraction: number): boolean {
  if (evalFraction <= 0) return false;
  const h = createHash('sha256')
    .update(`${String(seed)}:${id}`)
    .digest();
  return h.readUIntBE(0, 6) / 2 ** 48 < evalFraction;
}
