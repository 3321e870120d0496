import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalArtifactStore } from '@lathe/artifacts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadParts, type DownloadPart } from './download.js';
import type { ManifestFile } from './manifest.js';

describe('downloadParts', () => {
  let root: string;
  let store: LocalArtifactStore;
  const a = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
  const b = Buffer.from('config');
  let files: ManifestFile[];
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'registry-download-'));
    store = new LocalArtifactStore({ root, namespace: 'registry' });
    files = [];
    for (const [path, bytes] of [
      ['a.bin', a],
      ['config.json', b],
    ] as const) {
      const info = await store.put(bytes);
      files.push({ path, sha256: info.sha256, size: bytes.length });
    }
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function collect(plan: {
    resumePath?: string;
    resumeOffset?: number;
    chunkSize?: number;
    paths?: string[];
  }) {
    const parts: DownloadPart[] = [];
    for await (const p of downloadParts(
      store,
      files,
      {
        paths: plan.paths ?? [],
        resumePath: plan.resumePath ?? '',
        resumeOffset: plan.resumeOffset ?? 0,
        chunkSize: plan.chunkSize ?? 0,
      },
      new AbortController().signal,
    ))
      parts.push(p);
    const out = new Map<string, Buffer>();
    let current = '';
    for (const p of parts)
      if (p.kind === 'file') {
        current = p.file.path;
        out.set(current, Buffer.alloc(0));
      } else out.set(current, Buffer.concat([out.get(current) ?? Buffer.alloc(0), p.bytes]));
    return { parts, out };
  }

  it('sends every file in path order, in chunks of the asked size', async () => {
    const { parts, out } = await collect({ chunkSize: 4096 });
    expect(
      parts.filter((p) => p.kind === 'file').map((p) => (p.kind === 'file' ? p.file.path : '')),
    ).toEqual(['a.bin', 'config.json']);
    expect(
      parts.filter((p) => p.kind === 'chunk').map((p) => (p.kind === 'chunk' ? p.bytes.length : 0)),
    ).toEqual([4096, 4096, 1808, 6]);
    expect(Buffer.compare(out.get('a.bin')!, a)).toBe(0);
  });

  it('resumes at any offset with the remaining bytes exactly', async () => {
    for (const offset of [0, 1, 4095, 4096, 9999, 10_000]) {
      const { parts, out } = await collect({
        resumePath: 'a.bin',
        resumeOffset: offset,
        chunkSize: 4096,
      });
      expect(parts[0]).toMatchObject({ kind: 'file', offset });
      expect(
        Buffer.compare(out.get('a.bin')!, a.subarray(offset)),
        `offset ${String(offset)}`,
      ).toBe(0);
      expect(out.get('config.json')?.toString()).toBe('config');
    }
  });

  it('fails the stream when a stored blob was corrupted, before its end is sent', async () => {
    const bytes = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7) % 256));
    const info = await store.put(bytes);
    const blob = join(root, 'registry', 'sha256', info.sha256.slice(0, 2), info.sha256.slice(2));
    await chmod(blob, 0o644);
    const damaged = await readFile(blob);
    damaged[150_000] = (damaged[150_000] ?? 0) ^ 1;
    await writeFile(blob, damaged);
    const received: number[] = [];
    const run = async (): Promise<void> => {
      for await (const p of downloadParts(
        store,
        [{ path: 'x.bin', sha256: info.sha256, size: bytes.length }],
        { paths: [], resumePath: '', resumeOffset: 0, chunkSize: 16_384 },
        new AbortController().signal,
      ))
        if (p.kind === 'chunk') received.push(p.bytes.length);
    };
    await expect(run()).rejects.toThrow(/integrity check failed/);
    expect(received.reduce((a, b) => a + b, 0)).toBeLessThan(bytes.length);
  });

  it('skips files before the resume path and refuses offsets past the end', async () => {
    const { out } = await collect({ resumePath: 'config.json' });
    expect([...out.keys()]).toEqual(['config.json']);
    await expect(collect({ resumePath: 'a.bin', resumeOffset: 10_001 })).rejects.toThrow(
      /past the end of "a.bin"/,
    );
    await expect(collect({ resumePath: 'nope' })).rejects.toThrow(
      /"nope" is not a file of this download/,
    );
  });
});
