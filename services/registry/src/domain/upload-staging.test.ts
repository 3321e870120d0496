import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImportModelRequest } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stageUpload } from './upload-staging.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const header = (fileCount: number): ImportModelRequest => ({
  message: { $case: 'model', model: { name: 'm', description: '', labels: {}, fileCount } },
});
const file = (path: string, bytes: Uint8Array, sha256 = sha(bytes)): ImportModelRequest => ({
  message: { $case: 'file', file: { path, sizeBytes: bytes.length, sha256 } },
});
const chunk = (bytes: Uint8Array): ImportModelRequest => ({
  message: { $case: 'chunk', chunk: Buffer.from(bytes) },
});
async function* stream(...m: ImportModelRequest[]): AsyncGenerator<ImportModelRequest> {
  for (const x of m) yield await Promise.resolve(x);
}

describe('stageUpload', () => {
  let work: string;
  const data = Buffer.from('0123456789abcdef'.repeat(100));
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'registry-upload-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('writes each file as sent, verified, and reports its digest', async () => {
    const { header: h, staged } = await stageUpload(
      stream(
        header(2),
        file('config.json', data.subarray(0, 10)),
        chunk(data.subarray(0, 10)),
        file('w/x.bin', data),
        chunk(data.subarray(0, 700)),
        chunk(data.subarray(700)),
      ),
      work,
    );
    expect(h.name).toBe('m');
    expect(staged.files).toEqual([
      { path: 'config.json', sha256: sha(data.subarray(0, 10)), size: 10 },
      { path: 'w/x.bin', sha256: sha(data), size: data.length },
    ]);
    expect(Buffer.compare(await readFile(join(staged.dir, 'w/x.bin')), data)).toBe(0);
    await staged.remove();
  });

  const refusals: Array<[string, ImportModelRequest[], RegExp]> = [
    [
      'a truncated file',
      [header(1), file('a.bin', data), chunk(data.subarray(0, 900))],
      /ended after 900 of its 1600 bytes \(truncated upload\)/,
    ],
    [
      'bytes past the declared size',
      [header(1), file('a.bin', data.subarray(0, 5)), chunk(data.subarray(0, 6))],
      /more than its declared 5 bytes/,
    ],
    [
      'a digest mismatch',
      [header(1), file('a.bin', data, 'f'.repeat(64)), chunk(data)],
      /hashes to [0-9a-f]{64}, not the declared f{64}/,
    ],
    ['a missing header', [file('a.bin', data)], /first message must be the model header/],
    [
      'a path leaving the model',
      [header(1), file('../a.bin', data)],
      /"\.\.\/a\.bin" has an empty, "\." or "\.\." segment/,
    ],
    [
      'a wrong file count',
      [header(2), file('a.bin', data), chunk(data)],
      /announced 2 files but 1 arrived/,
    ],
    ['a chunk before any file', [header(1), chunk(data)], /a chunk must follow a file header/],
  ];
  for (const [what, messages, message] of refusals)
    it(`refuses ${what} and leaves nothing staged`, async () => {
      await expect(stageUpload(stream(...messages), work)).rejects.toThrow(message);
      expect(await readdir(work)).toEqual([]);
    });
});
