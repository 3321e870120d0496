import { AsyncLocalStorage } from 'node:async_hooks';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { INT8_ARRAY_OID, INT8_OID, parseInt8, parseInt8Array } from './int8-parsers.js';
import { assertSchemaName } from './schema-name.js';
import type { QueryResult, SqlClient, SqlExecutor, SqlRow, SqlValue } from './sql-client.js';
import { toSqlError } from './sql-error.js';

/** Options for {@link openPgliteDatabase}. */
export interface PgliteDatabaseOptions {
  /** Directory holding the database files; created when missing. Default: in memory. */
  dataDir?: string;
}

/** Options for {@link createPgliteClient}. */
export interface PgliteClientOptions extends PgliteDatabaseOptions {
  /** The service's schema; unqualified names resolve in it. Required. */
  schema: string;
}

/**
 * One embedded PGlite database, shared by the services of one process: each gets a
 * {@link SqlClient} bound to its own schema.
 */
export interface PgliteDatabase {
  /** A client whose unqualified names resolve in `schema`. Its `close()` leaves the database open. */
  client(schema: string): SqlClient;
  /** Closes the database; every client of it stops working. */
  close(): Promise<void>;
}

type PgliteRunner = Pick<PGlite, 'query' | 'exec'> | Transaction;

async function runQuery<R extends SqlRow>(
  runner: PgliteRunner,
  sql: string,
  params: readonly SqlValue[] = [],
): Promise<QueryResult<R>> {
  try {
    const result = await runner.query<R>(sql, [...params]);
    // PGlite reports affectedRows 0 for a SELECT; pg reports the row count: match pg.
    const returnsRows = result.fields.length > 0;
    return {
      rows: result.rows,
      rowCount: returnsRows ? result.rows.length : (result.affectedRows ?? 0),
    };
  } catch (error) {
    throw toSqlError(error, sql);
  }
}

async function runScript(runner: PgliteRunner, script: string): Promise<void> {
  try {
    await runner.exec(script);
  } catch (error) {
    throw toSqlError(error, script);
  }
}

/**
 * Opens PGlite: PostgreSQL compiled to WebAssembly, running in this process. The same SQL and
 * migrations run here and on a server.
 *
 * PGlite is a single connection and `search_path` belongs to the connection, so clients of
 * different schemas take turns: each statement or transaction holds the database, switching
 * `search_path` first when another schema used it last. A statement sent through any client of
 * the same database from inside a transaction body would wait for that transaction forever; it is
 * reported as an error instead (use the `tx` handle).
 */
export async function openPgliteDatabase(
  options: PgliteDatabaseOptions = {},
): Promise<PgliteDatabase> {
  const parsers = { [INT8_OID]: parseInt8, [INT8_ARRAY_OID]: parseInt8Array };
  const db =
    options.dataDir === undefined
      ? await PGlite.create({ parsers })
      : await PGlite.create(options.dataDir, { parsers });
  const insideTransaction = new AsyncLocalStorage<true>();
  let turn: Promise<unknown> = Promise.resolve();
  let currentSchema: string | undefined;

  /** Runs `work` alone on the database with `schema` as the search path. */
  function exclusive<T>(schema: string, what: string, work: () => Promise<T>): Promise<T> {
    if (insideTransaction.getStore() === true) {
      return Promise.reject(
        new Error(
          `statement sent through a client inside a transaction on the same PGlite database (use tx): ${what.slice(0, 80)}`,
        ),
      );
    }
    const run = turn.then(async () => {
      if (currentSchema !== schema) {
        await db.exec(`SET search_path TO ${schema}`);
        currentSchema = schema;
      }
      return work();
    });
    turn = run.catch(() => undefined);
    return run;
  }

  function client(schemaName: string): SqlClient {
    const schema = assertSchemaName(schemaName);
    return {
      dialect: 'pglite',
      schema,
      query: <R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]) =>
        exclusive(schema, sql, () => runQuery<R>(db, sql, params)),
      execute: (script) => exclusive(schema, script, () => runScript(db, script)),
      transaction: <T>(fn: (tx: SqlExecutor) => Promise<T>) =>
        exclusive(schema, 'BEGIN', () =>
          // PGlite's transaction() commits on resolve and rolls back on throw.
          db.transaction((raw) => {
            let done = false;
            const check = (sql: string): void => {
              if (done)
                throw new Error(`transaction already finished; cannot run: ${sql.slice(0, 80)}`);
            };
            const tx: SqlExecutor = {
              query: <R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]) => {
                check(sql);
                return runQuery<R>(raw, sql, params);
              },
              execute: (script) => {
                check(script);
                return runScript(raw, script);
              },
            };
            return insideTransaction
              .run(true, () => fn(tx))
              .finally(() => {
                done = true;
              });
          }),
        ),
      close: () => Promise.resolve(),
    };
  }

  return { client, close: () => db.close() };
}

/** A PGlite database used by one schema only; closing the client closes the database. */
export async function createPgliteClient(options: PgliteClientOptions): Promise<SqlClient> {
  const schema = assertSchemaName(options.schema);
  const database = await openPgliteDatabase(
    options.dataDir === undefined ? {} : { dataDir: options.dataDir },
  );
  return { ...database.client(schema), close: () => database.close() };
}
