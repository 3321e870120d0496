// A checkpoint directory as one blob for the artifact store, and back.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** First bytes of every archive; a reader refuses anything else. */
const MAGIC = 'lathe-checkpoint-archive/1\n';

/** Media type of the archive in `ArtifactRef.media_type`. */
export const CHECKPOINT_ARCHIVE_MEDIA_TYPE = 'application/vnd.lathe.checkpoint-archive';

/** An archive that cannot be unpacked, naming why. */
export class CheckpointArchiveError extends Error {
  override readonly name = 'CheckpointArchiveError';
}

/**
 * Packs the regular files of one checkpoint directory (flat: `trainer_state.json`,
 * `trainable.safetensors`, `optimizer.safetensors`, and DPO's `extra.safetensors`) into one buffer: the magic line, a JSON
 * line listing `{ name, size }` per file in name order, then the files' bytes back to back. Flat
 * and ordered, so the same checkpoint always packs to the same bytes (and the same digest).
 */
export async function packCheckpointDir(dir: string): Promise<Buffer> {
  const entries = (await readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => e.name)
    .sort();
  const bodies = await Promise.all(entries.map((name) => readFile(join(dir, name))));
  const index = entries.map((name, i) => ({ name, size: bodies[i]?.length ?? 0 }));
  return Buffer.concat([Buffer.from(`${MAGIC}${JSON.stringify(index)}\n`, 'utf8'), ...bodies]);
}

function parseIndex(text: string): { name: string; size: number }[] {
  const index: unknown = JSON.parse(text);
  if (!Array.isArray(index)) throw new CheckpointArchiveError('archive index is not a list');
  return index.map((e: unknown) => {
    const { name, size } = (e ?? {}) as { name?: unknown; size?: unknown };
    if (typeof name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith('.'))
      throw new CheckpointArchiveError(`archive entry name ${JSON.stringify(name)} is not allowed`);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
      throw new CheckpointArchiveError(`archive entry "${name}" has a bad size`);
    return { name, size };
  });
}

/**
 * Unpacks an archive of {@link packCheckpointDir} into `dir` (created). Entry names are plain
 * file names; sizes must add up to the archive exactly.
 *
 * @throws CheckpointArchiveError when the bytes are not such an archive
 */
export async function unpackCheckpointArchive(archive: Uint8Array, dir: string): Promise<void> {
  const bytes = Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength);
  if (bytes.subarray(0, MAGIC.length).toString('utf8') !== MAGIC)
    throw new CheckpointArchiveError('not a Lathe checkpoint archive');
  const indexEnd = bytes.indexOf(0x0a, MAGIC.length);
  if (indexEnd < 0) throw new CheckpointArchiveError('archive index is cut off');
  const index = parseIndex(bytes.subarray(MAGIC.length, indexEnd).toString('utf8'));
  let offset = indexEnd + 1;
  const total = index.reduce((sum, e) => sum + e.size, 0);
  if (offset + total !== bytes.length)
    throw new CheckpointArchiveError(
      `archive holds ${bytes.length - offset} bytes of files, its index says ${total}`,
    );
  await mkdir(dir, { recursive: true });
  for (const entry of index) {
    await writeFile(join(dir, entry.name), bytes.subarray(offset, offset + entry.size));
    offset += entry.size;
  }
}
