/**
 * The 4-bit codebooks of QLoRA / bitsandbytes and the rule that picks a code for a normalized
 * value. Codes are the 4-bit indices stored in the packed bytes; the `quant_map` tensor of a
 * checkpoint is the codebook in code order.
 */
import { bnb4Codebook } from '@lathe/graph';

/** A 4-bit data type: its codebook in code order and its nearest-code rule. */
export interface FourBitType {
  readonly name: 'nf4' | 'fp4';
  /** Code -> value in [-1, 1], float32, in code order (the checkpoint's `quant_map`). */
  readonly codebook: Float32Array;
  /** The code for a value already divided by its block's absmax (float32). */
  readonly encode: (normalized: number) => number;
}

/**
 * NF4 code of x. bitsandbytes walks a decision tree whose thresholds are the float32 midpoints of
 * neighbouring codes and goes up only when x is strictly greater, so a tie goes to the lower code;
 * a NaN (a block whose absmax is 0 gives 0·∞) fails every test and lands on code 0.
 */
function encodeNf4(x: number): number {
  // Binary search over the 15 ascending thresholds: the code is how many of them x exceeds.
  const t = NF4_THRESHOLDS;
  let code = x > t[7]! ? 8 : 0;
  code += x > t[code + 3]! ? 4 : 0;
  code += x > t[code + 1]! ? 2 : 0;
  return code + (x > t[code]! ? 1 : 0);
}

/** The codebooks are onnxruntime's `MatMulBnb4` tables, which are bitsandbytes' float32 values. */
const NF4_VALUES = bnb4Codebook('nf4');

const NF4_THRESHOLDS = [...NF4_VALUES.slice(1)].map((v, i) =>
  Math.fround((v + NF4_VALUES[i]!) / 2),
);

/** FP4 magnitude codes in ascending value order (0b000, 0b001, 0b110, 0b111, 0b100, 0b101, 0b010, 0b011). */
const FP4_ASCENDING = [0b000, 0b001, 0b110, 0b111, 0b100, 0b101, 0b010, 0b011];

/**
 * bitsandbytes' FP4 thresholds on |x| are decimal literals in its kernel, rounded to float32, not
 * computed midpoints (0.583333 is six ulps below the true midpoint 7/12): they are reproduced
 * as they are, since they decide the stored bits.
 */
const FP4_THRESHOLDS = [
  0.00260417, 0.0859375, 0.20833333, 0.29166667, 0.4166667, 0.583333, 0.8333333,
].map((t) => Math.fround(t));

function encodeFp4(x: number): number {
  // The sign comes from x < 0, so -0 and NaN get the positive codes.
  const sign = x < 0 ? 0b1000 : 0;
  const magnitude = Math.abs(x);
  const t = FP4_THRESHOLDS;
  let rank = magnitude > t[3]! ? 4 : 0;
  rank += magnitude > t[rank + 1]! ? 2 : 0;
  rank += magnitude > t[rank]! ? 1 : 0;
  return sign | FP4_ASCENDING[rank]!;
}

/** NF4: 4-bit NormalFloat. */
export const NF4: FourBitType = {
  name: 'nf4',
  codebook: NF4_VALUES,
  encode: encodeNf4,
};

/** FP4: 4-bit float (E2M1, bias 3), normalized to [-1, 1]. */
export const FP4: FourBitType = {
  name: 'fp4',
  codebook: bnb4Codebook('fp4'),
  encode: encodeFp4,
};

/** The 4-bit type of a scheme name. */
export function fourBitType(name: 'nf4' | 'fp4'): FourBitType {
  return name === 'nf4' ? NF4 : FP4;
}
