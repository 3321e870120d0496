import pg from 'pg';
import { INT8_ARRAY_OID, INT8_OID, parseInt8, parseInt8Array } from './int8-parsers.js';
import { assertSchemaName } from './schema-name.js';
import type { QueryResult, SqlClient, SqlExecutor, SqlRow, SqlValue } from './sql-client.js';
import { toSqlError } from './sql-error.js';

/** Options for {@link createPostgresClient}. */
export interface PostgresClientOptions {
  /** Connection URL, e.g. `postgres://user:pass@host:5432/lathe`. Required. */
  url: string;
  /** The service's schema; unqualified names resolve in it. Required. */
  schema: string;
  /** Pool size. Default 10. */
  maxConnections?: number;
  /** Shown in `pg_stat_activity`. Default `lathe`. */
  applicationName?: string;
  /** How long to wait for a connection, in ms. Default 10000. */
  connectionTimeoutMs?: number;
  /**
   * Called when an idle pooled connection fails (server restart, network). The pool drops that
   * connection and opens another on demand. Default: one line on stderr.
   */
  onIdleError?: (error: Error) => void;
}

const typeParsers = {
  getTypeParser: ((oid: number) => {
    if (oid === INT8_OID) return parseInt8;
    if (oid === INT8_ARRAY_OID) return parseInt8Array;
    // pg asks for text-format parsers only (it never requests binary results here).
    return pg.types.getTypeParser(oid, 'text') as (value: string) => unknown;
  }) as typeof pg.types.getTypeParser,
};

/** `pg` handles Buffers but not plain Uint8Arrays or bigints as parameters. */
function toDriverValue(value: SqlValue): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array && !Buffer.isBuffer(value))
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return (value as readonly SqlValue[]).map(toDriverValue);
  return value;
}

async function runQuery<R extends SqlRow>(
  runner: pg.Pool | pg.PoolClient,
  sql: string,
  params: readonly SqlValue[] = [],
): Promise<QueryResult<R>> {
  try {
    const result = await runner.query<R>(sql, params.map(toDriverValue));
    return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
  } catch (error) {
    throw toSqlError(error, sql);
  }
}

async function runScript(runner: pg.Pool | pg.PoolClient, script: string): Promise<void> {
  try {
    // No parameters: pg uses the simple query protocol, which accepts several statements.
    await runner.query(script);
  } catch (error) {
    throw toSqlError(error, script);
  }
}

/** The executor handed to a transaction body; refuses work once the transaction is over. */
class PgTransaction implements SqlExecutor {
  private done = false;
  constructor(private readonly connection: pg.PoolClient) {}

  finish(): void {
    this.done = true;
  }

  private check(sql: string): void {
    if (this.done) throw new Error(`transaction already finished; cannot run: ${sql.slice(0, 80)}`);
  }

  query<R extends SqlRow = SqlRow>(
    sql: string,
    params?: readonly SqlValue[],
  ): Promise<QueryResult<R>> {
    this.check(sql);
    return runQuery<R>(this.connection, sql, params);
  }

  execute(script: string): Promise<void> {
    this.check(script);
    return runScript(this.connection, script);
  }
}

/**
 * A {@link SqlClient} on PostgreSQL through a `pg` connection pool. Every pooled connection starts
 * with `search_path` set to the service's schema only, so a service cannot touch another's tables
 * by an unqualified name.
 */
export function createPostgresClient(options: PostgresClientOptions): SqlClient {
  const schema = assertSchemaName(options.schema);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    application_name: options.applicationName ?? 'lathe',
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    options: `-c search_path=${schema}`,
    types: typeParsers,
  });
  const onIdleError =
    options.onIdleError ??
    ((error: Error) =>
      console.error(
        `@lathe/store: idle PostgreSQL connection for schema "${schema}" failed: ${error.message}`,
      ));
  // Without a listener an idle connection's error would crash the process.
  pool.on('error', onIdleError);

  return {
    dialect: 'postgres',
    schema,
    query: (sql, params) => runQuery(pool, sql, params),
    execute: (script) => runScript(pool, script),
    async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      const connection = await pool.connect();
      // Set when the connection is in an unknown state: it is then destroyed, not reused.
      let broken: Error | undefined;
      // The pool listens for errors of idle connections only: one the server ends while it is
      // checked out (idle_in_transaction_session_timeout, an administrator's kill, a failover)
      // emits 'error' on it, which unheard would crash the process. The statement in flight (or
      // the next one) fails on its own; the connection is destroyed at release.
      const onConnectionError = (error: Error): void => {
        broken ??= error;
      };
      connection.on('error', onConnectionError);
      const tx = new PgTransaction(connection);
      try {
        await runScript(connection, 'BEGIN').catch((error: Error) => {
          broken = error;
          throw error;
        });
        try {
          const result = await fn(tx);
          await runScript(connection, 'COMMIT');
          return result;
        } catch (error) {
          await runScript(connection, 'ROLLBACK').catch((rollbackError: Error) => {
            broken = rollbackError;
          });
          throw error;
        }
      } finally {
        tx.finish();
        connection.removeListener('error', onConnectionError);
        connection.release(broken);
      }
    },
    close: () => pool.end(),
  };
}
