import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { SpanRecord } from '../src/file-span-exporter.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'lathe-file-traces-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs emit-many-spans.ts under the register entry; resolves to the trace id it printed. */
async function emit(env: Record<string, string>): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--conditions=lathe-source',
      '--import',
      'tsx',
      '--import',
      join(here, '../src/register.ts'),
      join(here, 'fixtures', 'emit-many-spans.ts'),
    ],
    {
      cwd: repoRoot,
      timeout: 60_000,
      env: { ...process.env, OTEL_METRICS_EXPORTER: 'none', ...env },
    },
  );
  // The SDK's diagnostics go to stdout too; the trace id is the last line.
  return stdout.trim().split('\n').at(-1) ?? '';
}

describe('OTEL_TRACES_EXPORTER=file through the register entry', () => {
  it('four processes append whole JSON lines to one file, every span of every process', async () => {
    const file = join(dir, 'spans.jsonl');
    const spansEach = 100;
    const traceIds = await Promise.all(
      ['a', 'b', 'c', 'd'].map((name) =>
        emit({
          OTEL_TRACES_EXPORTER: 'file',
          LATHE_TRACES_FILE: file,
          OTEL_SERVICE_NAME: `writer-${name}`,
          FIXTURE_SPANS: String(spansEach),
        }),
      ),
    );
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines.pop()).toBe(''); // ends with a newline
    // Every line parses on its own: no two writers' bytes were interleaved.
    const records = lines.map((line) => JSON.parse(line) as SpanRecord);
    expect(records).toHaveLength(4 * (spansEach + 1));
    for (const [index, name] of ['a', 'b', 'c', 'd'].entries()) {
      const mine = records.filter((r) => r.serviceName === `writer-${name}`);
      expect(mine).toHaveLength(spansEach + 1);
      expect(new Set(mine.map((r) => r.traceId))).toEqual(new Set([traceIds[index]]));
      const root = mine.find((r) => r.name === 'fixture.root');
      expect(root?.parentSpanId).toBeUndefined();
      const children = mine.filter((r) => r.name === 'fixture.child');
      expect(children.every((c) => c.parentSpanId === root?.spanId)).toBe(true);
      expect(
        children
          .map((c) => c.attributes['lathe.fixture.index'])
          .sort((x, y) => Number(x) - Number(y)),
      ).toEqual(Array.from({ length: spansEach }, (_, i) => i));
    }
  }, 120_000);

  it('the lathe-file name works too, and a missing LATHE_TRACES_FILE stops the process with a reason', async () => {
    const file = join(dir, 'other.jsonl');
    await emit({ OTEL_TRACES_EXPORTER: 'lathe-file', LATHE_TRACES_FILE: file, FIXTURE_SPANS: '1' });
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(2);
    await expect(emit({ OTEL_TRACES_EXPORTER: 'file', LATHE_TRACES_FILE: '' })).rejects.toThrow(
      /LATHE_TRACES_FILE/,
    );
  }, 120_000);
});
