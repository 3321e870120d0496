import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CheckpointArchiveError,
  packCheckpointDir,
  unpackCheckpointArchive,
} from './checkpoint-archive.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'lathe-ckpt-archive-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('checkpoint archives', () => {
  it('round-trips a checkpoint folder byte for byte, and packs the same folder to the same bytes', async () => {
    const src = await tempDir();
    const files = {
      'trainer_state.json': Buffer.from('{"step": 4}\n'),
      'trainable.safetensors': Buffer.from([0, 1, 2, 3, 255, 10, 0]),
      'optimizer.safetensors': Buffer.alloc(0),
    };
    for (const [name, body] of Object.entries(files)) await writeFile(join(src, name), body);
    const archive = await packCheckpointDir(src);
    expect(await packCheckpointDir(src)).toEqual(archive);
    const out = join(await tempDir(), 'restored');
    await unpackCheckpointArchive(archive, out);
    for (const [name, body] of Object.entries(files))
      expect(await readFile(join(out, name))).toEqual(body);
  });

  it('refuses foreign bytes, a size that does not add up, and names that leave the folder', async () => {
    const out = join(await tempDir(), 'x');
    await expect(unpackCheckpointArchive(Buffer.from('PK\x03\x04'), out)).rejects.toThrow(
      CheckpointArchiveError,
    );
    const magic = 'lathe-checkpoint-archive/1\n';
    const short = Buffer.from(`${magic}[{"name":"a","size":5}]\nabc`);
    await expect(unpackCheckpointArchive(short, out)).rejects.toThrow(
      /3 bytes of files, its index says 5/,
    );
    const escape = Buffer.from(`${magic}[{"name":"../evil","size":1}]\nx`);
    await expect(unpackCheckpointArchive(escape, out)).rejects.toThrow(/not allowed/);
  });
});
