import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runLathe, type LatheRun } from '../../test/run-lathe.js';
import { literal, useTempDirs } from '../../test/temp-dirs.js';

const MODEL = join(REPO_ROOT, '../shared/models/stories260K');
const missing = existsSync(MODEL) ? '' : `shared model not found at ${MODEL}`;
if (missing !== '') console.warn(`skipping lathe train data-error tests: ${missing}`);

describe.skipIf(missing !== '')('lathe train: bad data', () => {
  const tempDir = useTempDirs('lathe-cli-');

  /** Writes `contents` as the training data file `name` and runs `lathe train` on it. */
  async function trainOn(
    name: string,
    contents: string,
  ): Promise<LatheRun & { data: string; out: string }> {
    const dir = await tempDir();
    const data = join(dir, name);
    const out = join(dir, 'out');
    await writeFile(data, contents);
    const r = await runLathe([
      'train',
      '--method',
      'lora',
      '--model',
      MODEL,
      '--data',
      data,
      '--out',
      out,
    ]);
    return { ...r, data, out };
  }

  it('names the file and line of a record that is not valid JSON, in one line, exit 1', async () => {
    const r = await trainOn(
      'train.jsonl',
      '{"text": "one"}\n{"instruction": "hi", "output": "there"}\n\n{"text": "four" \n',
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`^lathe: ${literal(r.data)}: line 4: not valid JSON \\(.*\\)\\n$`),
    );
    expect(existsSync(r.out)).toBe(false);
  });

  it('names the file, line and field of a record in an unknown shape, and counts the others', async () => {
    const r = await trainOn(
      'train.json',
      JSON.stringify([{ text: 'ok' }, { messages: 'hello' }, { prompt: 'x' }], null, 2),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `lathe: ${r.data}: line 5: "messages" must be an array (and 1 more bad records)\n`,
    );
  });
});
