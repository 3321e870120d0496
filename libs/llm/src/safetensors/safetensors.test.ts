import { describe, expect, it } from 'vitest';
import { ModelFileError } from '../config/model-file-error.js';
import { decodeSafetensors } from './read-safetensors.js';
import { encodeSafetensors } from './write-safetensors.js';
import { halfToFloat } from './to-float32.js';

/** Builds a file from a raw header object and a data section. */
function rawFile(header: unknown, data: Uint8Array, lengthOverride?: bigint): Uint8Array {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function reason(bytes: Uint8Array): string {
  try {
    decodeSafetensors(bytes, 'bad.safetensors');
  } catch (err) {
    expect(err).toBeInstanceOf(ModelFileError);
    expect((err as Error).message.startsWith('bad.safetensors: ')).toBe(true);
    return (err as ModelFileError).reason;
  }
  throw new Error('expected the file to be rejected');
}

describe('safetensors', () => {
  it('round-trips fp32 tensors and metadata with an 8-byte aligned data section', () => {
    const tensors = new Map([
      ['a', { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, -6.5]) }],
      ['b.bias', { shape: [1], data: new Float32Array([Math.PI]) }],
    ]);
    const bytes = encodeSafetensors(tensors, { loss: '1.25' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const back = decodeSafetensors(bytes, 'x.safetensors');
    expect(back.metadata).toEqual({ loss: '1.25' });
    expect([...back.tensors.keys()]).toEqual(['a', 'b.bias']);
    expect(Array.from(back.tensors.get('a')?.data ?? [])).toEqual([1, 2, 3, 4, 5, -6.5]);
    expect(back.tensors.get('b.bias')?.data[0]).toBe(Math.fround(Math.PI));
  });

  it('widens bf16 and fp16 exactly', () => {
    // bf16 0x3FC0 = 1.5, 0xC120 = -10; fp16 0x3C00 = 1, 0x0001 = 2^-24 (subnormal), 0xFBFF = -65504
    const bf = new Uint8Array(new Uint16Array([0x3fc0, 0xc120]).buffer);
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0x0001, 0xfbff]).buffer);
    const data = new Uint8Array([...bf, ...f16]);
    const file = rawFile(
      {
        x: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] },
        y: { dtype: 'F16', shape: [3], data_offsets: [4, 10] },
      },
      data,
    );
    const out = decodeSafetensors(file, 'h.safetensors').tensors;
    expect(Array.from(out.get('x')?.data ?? [])).toEqual([1.5, -10]);
    expect(Array.from(out.get('y')?.data ?? [])).toEqual([1, 2 ** -24, -65504]);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
  });

  it('rejects a truncated file, a huge header length and a header longer than the file', () => {
    expect(reason(new Uint8Array([1, 2, 3]))).toMatch(/truncated safetensors file: 3 bytes/);
    const ok = encodeSafetensors(new Map([['a', { shape: [4], data: new Float32Array(4) }]]));
    expect(reason(ok.subarray(0, ok.length - 1))).toMatch(
      /"a" data_offsets \[0, 16\] fall outside the 15-byte data section/,
    );
    expect(reason(rawFile({}, new Uint8Array(), 2n ** 62n))).toMatch(
      /exceeds the 100000000-byte limit/,
    );
    expect(reason(rawFile({}, new Uint8Array(), 5000n))).toMatch(/header says 5000 bytes/);
  });

  it('rejects bad JSON, unknown dtypes, offsets outside the data, overlaps, gaps and size mismatches', () => {
    const data = new Uint8Array(16);
    const bad = (header: unknown): string => reason(rawFile(header, data));
    expect(reason(rawFile('x', data).fill(0x7b, 8, 9))).toMatch(/not valid UTF-8 JSON/);
    expect(bad({ a: { dtype: 'Q4', shape: [4], data_offsets: [0, 16] } })).toMatch(
      /unknown dtype "Q4"/,
    );
    expect(bad({ a: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } })).toMatch(
      /outside the 16-byte data section/,
    );
    expect(
      bad({
        a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] },
        b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
      }),
    ).toMatch(/"b" overlaps/);
    expect(bad({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } })).toMatch(
      /gap of 8 bytes before tensor "a"/,
    );
    expect(bad({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } })).toMatch(
      /holds 16 bytes but F32\[3\] needs 12/,
    );
    expect(bad({ a: { dtype: 'F32', shape: [-4], data_offsets: [0, 16] } })).toMatch(
      /non-negative integers/,
    );
    expect(
      bad({ __metadata__: { k: 1 }, a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }),
    ).toMatch(/"__metadata__.k" must be a string/);
  });
});
