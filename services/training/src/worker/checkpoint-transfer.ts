// Checkpoints between a run directory and the artifact store's `training` namespace: each one
// the trainer writes is stored as one archive; the job's latest is fetched and unpacked for the
// next attempt to resume from. The same for every method (SFT, LoRA, QLoRA, DPO).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactStore } from '@lathe/artifacts';
import type { ArtifactRef } from '@lathe/contracts/lathe/common/v1/artifact';
import type { Checkpoint } from '@lathe/contracts/lathe/training/v1/job';
import {
  CHECKPOINT_ARCHIVE_MEDIA_TYPE,
  packCheckpointDir,
  unpackCheckpointArchive,
} from './checkpoint-archive.js';

/** Where an attempt resumes: the unpacked checkpoint, or a fresh start. */
export interface ResumePoint {
  /** The checkpoint directory (undefined: no checkpoint, start at step 0). */
  readonly dir: string | undefined;
  /** Target tokens the run had trained on at the checkpoint (0 fresh). */
  readonly tokensSeen: number;
}

/**
 * Fetches the archive of `checkpoint` (the job's latest, as the store handed it to this attempt)
 * and unpacks it into `dir`; a fresh start when there is none.
 */
export async function fetchResumePoint(
  artifacts: ArtifactStore,
  checkpoint: Checkpoint | undefined,
  dir: string,
): Promise<ResumePoint> {
  const artifact = checkpoint?.artifact;
  if (artifact === undefined) return { dir: undefined, tokensSeen: 0 };
  const chunks: Buffer[] = [];
  for await (const c of (await artifacts.get(`sha256:${artifact.sha256}`)) as AsyncIterable<Buffer>)
    chunks.push(c);
  await unpackCheckpointArchive(Buffer.concat(chunks), dir);
  const state = JSON.parse(await readFile(join(dir, 'trainer_state.json'), 'utf8')) as {
    tokensSeen?: number;
  };
  return { dir, tokensSeen: state.tokensSeen ?? 0 };
}

/** Stores the checkpoint directory `dir` as one archive; returns its reference for the store. */
export async function storeCheckpointArchive(
  artifacts: ArtifactStore,
  dir: string,
): Promise<ArtifactRef> {
  const blob = await artifacts.put(await packCheckpointDir(dir));
  return {
    sha256: blob.sha256,
    sizeBytes: blob.size,
    mediaType: CHECKPOINT_ARCHIVE_MEDIA_TYPE,
    uri: `${artifacts.namespace}/sha256/${blob.sha256.slice(0, 2)}/${blob.sha256}`,
  };
}
