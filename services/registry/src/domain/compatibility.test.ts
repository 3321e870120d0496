import { describe, expect, it } from 'vitest';
import { compatibilityDifferences } from './compatibility.js';

const trained = {
  baseManifestSha256: 'a'.repeat(64),
  quantization: { scheme: 'nf4', blockSize: 64, doubleQuant: true },
  chatTemplateSha256: 'c'.repeat(64),
};

describe('compatibilityDifferences', () => {
  it('finds nothing for the base the adapter was trained with', () => {
    expect(compatibilityDifferences(trained, { ...trained })).toEqual([]);
  });

  it('names each difference with both values', () => {
    const diffs = compatibilityDifferences(trained, {
      baseManifestSha256: 'b'.repeat(64),
      quantization: { scheme: 'nf4', blockSize: 128, doubleQuant: true },
      chatTemplateSha256: '',
    });
    expect(diffs).toEqual([
      'base files differ (manifest bbbbbbbbbbbb…, adapter trained on aaaaaaaaaaaa…)',
      'quantization differs (base is nf4 (block 128, double-quantized), adapter trained on nf4 (block 64, double-quantized))',
      'chat template differs (base has none, adapter trained with cccccccccccc…)',
    ]);
  });

  it('tells an unquantized base from a quantized one', () => {
    expect(compatibilityDifferences(trained, { ...trained, quantization: undefined })).toEqual([
      'quantization differs (base is unquantized, adapter trained on nf4 (block 64, double-quantized))',
    ]);
  });
});
