// Starts the preferences service in-process on a fresh PostgreSQL database and a private NATS
// server (real servers, from @lathe/testkit), with clients for admins, reviewers and annotators.
import { Role } from '@lathe/contracts/lathe/preferences/v1/annotator';
import { PreferenceServiceService } from '@lathe/contracts/lathe/preferences/v1/preference_service';
import { createClient, Logger } from '@lathe/service-kit';
import type { LatheClient } from '@lathe/service-kit';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT, signTestToken, spawnService } from '@lathe/service-kit/testing';
import type { SpawnedService } from '@lathe/service-kit/testing';
import { createTestDatabase, startNats } from '@lathe/testkit';
import type { TestDatabase, TestNats } from '@lathe/testkit';
import { startPreferences } from '../src/start-preferences.js';
import type { RunningPreferences } from '../src/start-preferences.js';

const SECRET = 'preferences-test-secret-of-32-bytes!';
const ISSUER = 'https://id.lathe.test';

/** A client of the preference service. */
export type PreferenceClient = LatheClient<typeof PreferenceServiceService>;

/** A started service with what tests need around it. */
export interface Harness {
  readonly svc: RunningPreferences;
  readonly db: TestDatabase;
  readonly nats: TestNats;
  readonly address: string;
  /** The datasets service's address, when started. */
  readonly datasetsAddress: string | undefined;
  /** A dataset-reader-capable JWT for the datasets service, when started. */
  readonly datasetsToken: string | undefined;
  /** A client authenticated with a JWT carrying `roles`. */
  jwtClient(roles: readonly string[]): Promise<PreferenceClient>;
  /** A client with a raw bearer token. */
  tokenClient(token: string): PreferenceClient;
  /** Creates an annotator with a token of `role`; returns its id, token id, secret and client. */
  annotator(
    name: string,
    role?: Role,
  ): Promise<{ id: string; tokenId: string; secret: string; client: PreferenceClient }>;
  close(): Promise<void>;
}

/** The datasets service's entry point, run as a real process for snapshots. */
const DATASETS_MAIN = fileURLToPath(new URL('../../datasets/src/main.ts', import.meta.url));

/**
 * Starts the service; `env` adds or overrides variables (rate limits). With `datasets`, the
 * datasets service is started first as a real process on the same database (its own schema) and
 * NATS, and the preferences service calls it with a dataset-editor JWT.
 */
export async function startHarness(
  env: Readonly<Record<string, string>> = {},
  options: { datasets?: boolean } = {},
): Promise<Harness> {
  const db = await createTestDatabase();
  const nats = await startNats();
  let datasets: SpawnedService | undefined;
  let artifacts: string | undefined;
  const extra: Record<string, string> = {};
  if (options.datasets === true) {
    artifacts = mkdtempSync(join(tmpdir(), 'lathe-datasets-artifacts-'));
    datasets = await spawnService({
      entry: DATASETS_MAIN,
      cwd: REPO_ROOT,
      env: {
        LATHE_JWT_SECRET: SECRET,
        LATHE_JWT_ISSUER: ISSUER,
        DATABASE_URL: db.url,
        NATS_URL: nats.url,
        LATHE_DATASETS_ARTIFACT_DIR: artifacts,
      },
      startTimeoutMs: 60_000,
    });
    extra['LATHE_PREFERENCES_DATASETS_ADDRESS'] = datasets.address;
    extra['LATHE_PREFERENCES_DATASETS_TOKEN'] = await signTestToken({
      secret: SECRET,
      issuer: ISSUER,
      audience: 'lathe.datasets',
      roles: ['dataset-editor'],
      subject: 'preferences',
      expiresInSeconds: 3600,
    });
  }
  const svc = await startPreferences(
    {
      LATHE_GRPC_HOST: '127.0.0.1',
      LATHE_GRPC_PORT: '0',
      LATHE_PREFERENCES_WEB_HOST: '127.0.0.1',
      LATHE_PREFERENCES_WEB_PORT: '0',
      LATHE_JWT_SECRET: SECRET,
      LATHE_JWT_ISSUER: ISSUER,
      LATHE_PREFERENCES_STORE_URL: db.url,
      NATS_URL: nats.url,
      ...extra,
      ...env,
    },
    new Logger('preferences', 'error'),
  );
  const address = `127.0.0.1:${String(svc.port)}`;
  const clients: PreferenceClient[] = [];
  const tokenClient = (token: string): PreferenceClient => {
    const c = createClient(PreferenceServiceService, address, { token, idempotent: [] });
    clients.push(c);
    return c;
  };
  const jwtClient = async (roles: readonly string[]): Promise<PreferenceClient> =>
    tokenClient(
      await signTestToken({
        secret: SECRET,
        issuer: ISSUER,
        audience: 'lathe.preferences',
        roles,
        subject: roles.join('+'),
      }),
    );
  const admin = await jwtClient(['admin']);
  return {
    svc,
    db,
    nats,
    address,
    datasetsAddress: datasets?.address,
    datasetsToken: extra['LATHE_PREFERENCES_DATASETS_TOKEN'],
    jwtClient,
    tokenClient,
    annotator: async (name, role = Role.ROLE_ANNOTATOR) => {
      const { annotator } = await admin.createAnnotator({
        displayName: name,
        email: '',
        maxRole: role,
      });
      const id = annotator?.id ?? '';
      const issued = await admin.issueAnnotatorToken({
        annotatorId: id,
        role,
        ttl: undefined,
        description: `test ${name}`,
      });
      return {
        id,
        tokenId: issued.token?.id ?? '',
        secret: issued.secret,
        client: tokenClient(issued.secret),
      };
    },
    close: async () => {
      for (const c of clients) c.close();
      await svc.shutdown(1000);
      if (datasets !== undefined) await datasets.stop('SIGTERM');
      if (artifacts !== undefined) rmSync(artifacts, { recursive: true, force: true });
      await nats.close();
      await db.close();
    },
  };
}

/** A user message. */
export const user = (content: string) => [{ role: 2, content }];
/** An assistant message. */
export const assistant = (content: string) => [{ role: 3, content }];
