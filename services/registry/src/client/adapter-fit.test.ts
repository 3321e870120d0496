import { ModelVersion } from '@lathe/contracts/lathe/registry/v1/model';
import { describe, expect, it } from 'vitest';
import { adapterBaseDifferences } from './adapter-fit.js';

const ref = (name: string, d: string) => ({ name, version: 1, manifestSha256: d.repeat(64) });
const base = ModelVersion.fromPartial({ ref: ref('base', 'a') });
const nf4 = ModelVersion.fromPartial({
  ref: ref('base-nf4', 'b'),
  quantization: { source: ref('base', 'a'), scheme: 'nf4', blockSize: 64, doubleQuant: true },
});
const lora = ModelVersion.fromPartial({
  ref: ref('bot', 'c'),
  adapter: { base: ref('base', 'a') },
});
const qlora = ModelVersion.fromPartial({
  ref: ref('qbot', 'd'),
  adapter: { base: ref('base', 'a'), quantizedBase: ref('base-nf4', 'b') },
});

describe('adapterBaseDifferences', () => {
  it('accepts the base a LoRA adapter was trained on, and the quantized copy for QLoRA', () => {
    expect(adapterBaseDifferences(lora, base)).toEqual([]);
    expect(adapterBaseDifferences(qlora, nf4)).toEqual([]);
  });

  it('names other base files and a different quantization state', () => {
    const other = ModelVersion.fromPartial({ ref: ref('other', 'e') });
    expect(adapterBaseDifferences(lora, other)).toEqual([
      'base files differ (manifest eeeeeeeeeeee…, adapter trained on aaaaaaaaaaaa…)',
    ]);
    expect(adapterBaseDifferences(lora, nf4)).toEqual([
      'quantization differs (base is nf4 (block 64, double-quantized), adapter trained on unquantized weights)',
    ]);
    expect(adapterBaseDifferences(qlora, base)).toEqual([
      'quantization differs (base is unquantized, adapter trained on the quantized copy bbbbbbbbbbbb…)',
    ]);
  });
});
