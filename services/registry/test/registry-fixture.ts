// A registry on real servers for the integration tests: PostgreSQL (a fresh database), NATS
// JetStream (events) and the NATS Object Store (artifacts), served over real gRPC.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RegistryServiceService } from '@lathe/contracts/lathe/registry/v1/registry_service';
import {
  Logger,
  createClient,
  readServiceSettings,
  startService,
  type LatheClient,
  type RunningService,
} from '@lathe/service-kit';
import { createTestDatabase, startNats, type TestDatabase, type TestNats } from '@lathe/testkit';
import { openRegistryRuntime, type RegistryRuntime } from '../src/registry-runtime.js';
import { registryService } from '../src/server.js';

/** The repository root, and the shared assets beside it. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** stories260K in Hugging Face layout. */
export const STORIES = join(REPO_ROOT, '../shared/models/stories260K');
/** Why the shared-model tests skip, or '' when the model is there. */
export const STORIES_MISSING = existsSync(join(STORIES, 'model.safetensors'))
  ? ''
  : `shared model not found at ${STORIES}`;

/** A running registry and its clients. */
export interface RegistryFixture {
  readonly runtime: RegistryRuntime;
  readonly service: RunningService;
  readonly address: string;
  readonly natsUrl: string;
  readonly workDir: string;
  client(): LatheClient<typeof RegistryServiceService>;
  close(): Promise<void>;
}

/** Starts the registry (auth off) on a fresh database and NATS; `close` undoes everything. */
export async function startRegistryFixture(
  importRoots: readonly string[],
): Promise<RegistryFixture> {
  const db: TestDatabase = await createTestDatabase();
  const nats: TestNats = await startNats();
  const workDir = await mkdtemp(join(tmpdir(), 'lathe-registry-test-'));
  const publishErrors: unknown[] = [];
  const runtime = await openRegistryRuntime({
    storeUrl: db.url,
    artifacts: 'nats',
    natsUrl: nats.url,
    workDir: join(workDir, 'scratch'),
    importRoots,
    onPublishError: (e) => publishErrors.push(e),
  });
  const settings = readServiceSettings('registry', 0, {
    LATHE_AUTH_MODE: 'none',
    LATHE_REGISTRY_PORT: '0',
    LATHE_GRPC_HOST: '127.0.0.1',
  });
  const service = await startService(
    registryService(runtime.registry),
    settings,
    new Logger('registry', 'error'),
  );
  const address = `127.0.0.1:${String(service.port)}`;
  const clients: Array<{ close(): void }> = [];
  return {
    runtime,
    service,
    address,
    natsUrl: nats.url,
    workDir,
    client: () => {
      const c = createClient(RegistryServiceService, address, {
        idempotent: [],
        deadlineMs: 120_000,
      });
      clients.push(c);
      return c;
    },
    close: async () => {
      for (const c of clients) c.close();
      await service.shutdown(1000);
      await runtime.close();
      await nats.close();
      await db.close();
      await rm(workDir, { recursive: true, force: true });
      if (publishErrors.length > 0)
        throw new Error(`events failed to publish: ${String(publishErrors[0])}`);
    },
  };
}
