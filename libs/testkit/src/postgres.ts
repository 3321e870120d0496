import { hostname } from 'node:os';
import pg from 'pg';
import { isDockerReachable } from './docker.js';
import { TestServerUnavailableError } from './errors.js';
import { isAlive } from './process-reaper.js';
import type { TestServerSource } from './nats.js';
import { uniqueName } from './unique-name.js';

/** The server tried last: the machine's own PostgreSQL, trust auth. */
export const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
/** The PostgreSQL image used when a Docker engine is reachable. */
export const POSTGRES_IMAGE = 'postgres:16-alpine';
const DB_PREFIX = 'lathe_test';
const CONNECT_TIMEOUT_MS = 2_000;

/** A fresh, empty database for one test file. */
export interface TestDatabase {
  /** Connection URL of the fresh database. */
  readonly url: string;
  /** Its name, `lathe_test_<12 hex>`. */
  readonly database: string;
  /** URL of the server's maintenance database, for tests that create more databases. */
  readonly adminUrl: string;
  /** How the server was resolved. */
  readonly source: TestServerSource;
  /** Drops the database (closing its connections) and releases a container. Safe to call twice. */
  close(): Promise<void>;
}

/** Options for {@link createTestDatabase}. */
export interface CreateTestDatabaseOptions {
  /** Environment to read. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Creates a fresh database `lathe_test_<random>` on a PostgreSQL server resolved in this order:
 * 1. `DATABASE_URL` (used as the admin connection: the test gets its own database beside it);
 * 2. a `postgres` testcontainer when a Docker engine answers;
 * 3. the local server at {@link LOCAL_POSTGRES_URL}.
 * Call `close()` in `afterAll`. Databases whose creating process died without closing are
 * dropped the next time this runs on the same host.
 */
export async function createTestDatabase(
  options: CreateTestDatabaseOptions = {},
): Promise<TestDatabase> {
  const env = options.env ?? process.env;
  const attempts: string[] = [];
  const fromEnv = env['DATABASE_URL'];
  if (fromEnv !== undefined && fromEnv !== '') {
    const failure = await probe(fromEnv);
    if (failure !== undefined) {
      throw new TestServerUnavailableError('PostgreSQL', 'DATABASE_URL', [
        `DATABASE_URL=${redact(fromEnv)}: ${failure}`,
      ]);
    }
    return createOn(fromEnv, 'env', () => Promise.resolve());
  }
  attempts.push('DATABASE_URL: not set');
  if (await isDockerReachable(env)) {
    try {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const container = await new PostgreSqlContainer(POSTGRES_IMAGE).start();
      return await createOn(container.getConnectionUri(), 'container', async () => {
        await container.stop();
      });
    } catch (error) {
      attempts.push(`testcontainers: ${(error as Error).message}`);
    }
  } else {
    attempts.push('testcontainers: no Docker engine answered (DOCKER_HOST, /var/run/docker.sock)');
  }
  const failure = await probe(LOCAL_POSTGRES_URL);
  if (failure === undefined) return createOn(LOCAL_POSTGRES_URL, 'local', () => Promise.resolve());
  attempts.push(`${LOCAL_POSTGRES_URL}: ${failure}`);
  throw new TestServerUnavailableError('PostgreSQL', 'DATABASE_URL', attempts);
}

/** Returns why the server cannot be used, or undefined when it answers. */
async function probe(url: string): Promise<string | undefined> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: adminUrl,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function createOn(
  adminUrl: string,
  source: TestServerSource,
  release: () => Promise<void>,
): Promise<TestDatabase> {
  const database = uniqueName(DB_PREFIX);
  await withAdmin(adminUrl, async (admin) => {
    await dropStaleDatabases(admin);
    await admin.query(`CREATE DATABASE "${database}"`);
    // The owner note lets a later run drop this database if our process dies before close().
    const note = JSON.stringify({ host: hostname(), pid: process.pid });
    await admin.query(`COMMENT ON DATABASE "${database}" IS ${pg.escapeLiteral(note)}`);
  });
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  let closed = false;
  return {
    url: url.toString(),
    database,
    adminUrl,
    source,
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        await withAdmin(adminUrl, (admin) =>
          admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`),
        );
      } finally {
        await release();
      }
    },
  };
}

/** Drops `lathe_test_*` databases created on this host by processes that no longer exist. */
async function dropStaleDatabases(admin: pg.Client): Promise<void> {
  const { rows } = await admin.query<{ datname: string; note: string | null }>(
    `SELECT datname, shobj_description(oid, 'pg_database') AS note FROM pg_database WHERE datname LIKE '${DB_PREFIX}\\_%'`,
  );
  const host = hostname();
  for (const { datname, note } of rows) {
    let owner: { host?: unknown; pid?: unknown };
    try {
      owner = JSON.parse(note ?? '') as { host?: unknown; pid?: unknown };
    } catch {
      continue; // no note yet: its creator is between CREATE and COMMENT
    }
    if (owner.host !== host || typeof owner.pid !== 'number' || isAlive(owner.pid)) continue;
    await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => undefined);
  }
}

/** Hides a password in a URL before it goes into an error message. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable URL>';
  }
}
