import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeededRandom } from '../optim/seeded-random.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import { encodeSafetensors } from '../safetensors/write-safetensors.js';
import { NF4 } from './codebooks.js';

/** A fresh temporary directory for a test. */
export async function tempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `lathe-quant-${label}-`));
}

/** Gaussian values (Box-Muller over the seeded stream), float32. */
export function gaussian(n: number, seed: number, scale = 0.02): Float32Array {
  const rng = SeededRandom.fromSeed(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rng.nextFloat(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.nextFloat());
  }
  return out;
}

/**
 * Values that sit exactly on NF4's float32 decision midpoints and one float32 step above them,
 * in a block whose absmax is 1 (so the normalized value is the value itself): ties decide codes.
 */
function nf4Ties(): Float32Array {
  const out: number[] = [1];
  for (let i = 0; i + 1 < 16; i++) {
    const mid = Math.fround((NF4.codebook[i]! + NF4.codebook[i + 1]!) / 2);
    const up = new Float32Array([mid]);
    const bits = new Int32Array(up.buffer);
    bits[0]! += mid >= 0 ? 1 : -1;
    out.push(mid, up[0]!);
  }
  return Float32Array.from(out);
}

/**
 * A model directory of random projection weights whose sizes are not multiples of any block
 * size (odd element counts, a single element, a zero block, more than 256 blocks so the nested
 * absmax has a partial block, exact ties), plus tensors that stay in full precision.
 */
export async function writeRandomModel(dir: string): Promise<Map<string, Float32Tensor>> {
  const zeroRow = new Float32Array(2 * 64);
  zeroRow.set(gaussian(64, 7), 64);
  const tensors = new Map<string, Float32Tensor>([
    ['a.q_proj.weight', { shape: [7, 13], data: gaussian(91, 1) }],
    ['b.up_proj.weight', { shape: [33, 65], data: gaussian(33 * 65, 2, 1.5) }],
    ['c.down_proj.weight', { shape: [300, 131], data: gaussian(300 * 131, 3) }],
    ['d.o_proj.weight', { shape: [1, 1], data: Float32Array.from([-0.25]) }],
    ['e.k_proj.weight', { shape: [2, 64], data: zeroRow }],
    ['f.v_proj.weight', { shape: [1, 31], data: nf4Ties() }],
    ['embed_tokens.weight', { shape: [10, 4], data: gaussian(40, 4) }],
    ['norm.weight', { shape: [4], data: gaussian(4, 5) }],
  ]);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'test' }));
  await writeFile(join(dir, 'model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
  return tensors;
}
