import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runLathe } from '../../test/run-lathe.js';

const MODEL = join(REPO_ROOT, '../shared/models/stories260K');
const missing = existsSync(MODEL) ? '' : `shared model not found at ${MODEL}`;
if (missing !== '') console.warn(`skipping lathe train data-error tests: ${missing}`);

describe.skipIf(missing !== '')('lathe train: bad data', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('names the file and line of a record that is not valid JSON, in one line, exit 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lathe-cli-'));
    dirs.push(dir);
    const data = join(dir, 'train.jsonl');
    await writeFile(
      data,
      '{"text": "one"}\n{"instruction": "hi", "output": "there"}\n\n{"text": "four" \n',
    );
    const r = await runLathe([
      'train',
      '--method',
      'lora',
      '--model',
      MODEL,
      '--data',
      data,
      '--out',
      join(dir, 'out'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^lathe: ${data.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: line 4: not valid JSON \\(.*\\)\\n$`,
      ),
    );
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('names the file, line and field of a record in an unknown shape, and counts the others', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lathe-cli-'));
    dirs.push(dir);
    const data = join(dir, 'train.json');
    await writeFile(
      data,
      JSON.stringify([{ text: 'ok' }, { messages: 'hello' }, { prompt: 'x' }], null, 2),
    );
    const r = await runLathe([
      'train',
      '--method',
      'lora',
      '--model',
      MODEL,
      '--data',
      data,
      '--out',
      join(dir, 'out'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `lathe: ${data}: line 5: "messages" must be an array (and 1 more bad records)\n`,
    );
  });
});
