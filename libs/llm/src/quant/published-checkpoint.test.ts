import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../safetensors/read-safetensors.js';
import { loadQuantizedModel, readBitsAndBytesConfig } from './load-quantized-model.js';
import { runReference, stories260kDir, torchUnavailable } from './reference-runner.js';
import { tempDir } from './test-models.js';

const stories = stories260kDir();
const noTorch = torchUnavailable();

describe.skipIf(stories === undefined || noTorch !== undefined)(
  'a "bnb-4bit" checkpoint written by the independent reference',
  () => {
    it('loads in Lathe: bf16 base, NF4 with double quantization, components split across shards', async () => {
      const root = await tempDir('published');
      const dir = join(root, 'model');
      const ref = join(root, 'reference.safetensors');
      runReference(['write', stories!, dir, ref]);
      expect(await readBitsAndBytesConfig(dir)).toMatchObject({
        quant_method: 'bitsandbytes',
        bnb_4bit_quant_type: 'nf4',
      });
      const model = await loadQuantizedModel(dir);
      const expected = (await readSafetensors(ref)).tensors;
      expect([...model.weights.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [name, tensor] of expected) {
        // The reference dequantized its own file; Lathe must restore the very same float32 bits.
        expect(model.weights.get(name)?.shape, name).toEqual(tensor.shape);
        expect(model.weights.get(name)?.data, name).toEqual(tensor.data);
      }
    });
  },
);
