import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ArtifactStore } from '@lathe/artifacts';
import type { ManifestFile } from './manifest.js';

/** A directory of files being imported or checked, removed by {@link StagedDir.remove}. */
export interface StagedDir {
  readonly dir: string;
  readonly files: readonly ManifestFile[];
  remove(): Promise<void>;
}

/** A fresh private directory under `workDir`. */
export async function makeStagingDir(workDir: string, label: string): Promise<string> {
  await mkdir(workDir, { recursive: true });
  return mkdtemp(join(workDir, `${label}-`));
}

/** SHA-256 and size of a file, read as a stream. */
export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}

/**
 * Lists every regular file under `dir` (relative '/'-separated paths, dot files skipped) with
 * its digest: the files of a model directory to import in place.
 */
export async function listDirectory(dir: string): Promise<ManifestFile[]> {
  const out: ManifestFile[] = [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    if (!e.isFile()) continue;
    const full = join(e.parentPath, e.name);
    const path = relative(dir, full).split(sep).join('/');
    if (path.split('/').some((s) => s.startsWith('.'))) continue;
    out.push({ path, ...(await hashFile(full)) });
  }
  return out;
}

/** Copies `files` from the artifact store into a new staging directory (verified on read). */
export async function stageFromStore(
  artifacts: ArtifactStore,
  files: readonly ManifestFile[],
  workDir: string,
  label: string,
): Promise<StagedDir> {
  const dir = await makeStagingDir(workDir, label);
  try {
    for (const f of files) {
      const target = join(dir, ...f.path.split('/'));
      await mkdir(dirname(target), { recursive: true });
      await pipeline(await artifacts.get(`sha256:${f.sha256}`), createWriteStream(target));
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return { dir, files, remove: () => rm(dir, { recursive: true, force: true }) };
}
