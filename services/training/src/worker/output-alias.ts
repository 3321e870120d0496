// Moving a job's output alias to its result: compare-and-set against where the alias pointed
// when the attempt started, so that a move made meanwhile by someone else is not overwritten.
import { status } from '@grpc/grpc-js';
import { isLatheError } from '@lathe/service-kit';
import type { RegistryClient } from './job-inputs.js';

/** The version `alias` of model `name` points at now; 0 when the model or alias does not exist. */
export async function aliasVersion(
  registry: RegistryClient,
  name: string,
  alias: string,
): Promise<number> {
  try {
    const { version } = await registry.getModelVersion({
      ref: { name, selector: { $case: 'alias', alias } },
      includeDeleted: false,
    });
    return version?.ref?.version ?? 0;
  } catch (error) {
    if (isLatheError(error) && error.code === status.NOT_FOUND) return 0;
    throw error;
  }
}

/**
 * Points `alias` of `name` at `version` if it still points where it did at `expected` (0: did not
 * exist). Already pointing at `version` (a retried registration) is success. A move by someone
 * else meanwhile fails FAILED_PRECONDITION (ALIAS_CONFLICT) from the registry.
 */
export async function moveOutputAlias(
  registry: RegistryClient,
  move: { name: string; alias: string; version: number; expected: number; jobId: string },
): Promise<void> {
  if (move.expected === move.version) return;
  await registry.setAlias({
    name: move.name,
    alias: move.alias,
    version: move.version,
    expectedCurrentVersion: move.expected,
    reason: `training job ${move.jobId}`,
  });
}
