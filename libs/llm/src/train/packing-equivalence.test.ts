import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateSft } from './evaluate-sft.js';

// Packing must not leak between examples: the loss of examples packed together into rows must
// equal the loss of the same examples each alone in its row (real Llama graph, stories260K).
const SHARED = fileURLToPath(new URL('../../../../../shared', import.meta.url));
const MODEL = join(SHARED, 'models/stories260K');
const DATA = join(SHARED, 'data/sft/alpaca_tiny.json');
const missing =
  existsSync(MODEL) && existsSync(DATA) ? '' : `shared model/data not found under ${SHARED}`;
if (missing !== '') console.warn(`skipping packing equivalence test: ${missing}`);

describe.skipIf(missing !== '')('packing', () => {
  let dir = '';
  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('gives the same completion loss packed as unpacked (attention and targets stay within examples)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'lathe-pack-'));
    const records = JSON.parse(await readFile(DATA, 'utf8')) as unknown[];
    const data = join(dir, 'short.json');
    // The 12 first records; rows of 256 tokens hold two or three of them each when packed.
    await writeFile(data, JSON.stringify(records.slice(0, 12)));
    const packed = await evaluateSft({
      modelDir: MODEL,
      dataPath: data,
      seqLen: 256,
      batchSize: 4,
      pack: true,
    });
    const alone = await evaluateSft({
      modelDir: MODEL,
      dataPath: data,
      seqLen: 256,
      batchSize: 4,
      pack: false,
    });
    expect(packed.tokens).toBe(alone.tokens);
    expect(Math.abs(packed.loss - alone.loss)).toBeLessThan(1e-5);
  });
});
