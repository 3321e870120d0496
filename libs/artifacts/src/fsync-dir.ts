import { open } from 'node:fs/promises';

/**
 * Flushes a directory's entries to disk. A rename is durable only once the directory holding the
 * new name is synced; without it a power cut can forget a blob that `put` reported stored.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
