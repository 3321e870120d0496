/**
 * A value passed as a query parameter. `bigint` is how int8 comes back, so it goes in too;
 * `Uint8Array` is bytea; plain objects and arrays are sent as JSON text (cast with `$1::jsonb`).
 */
export type SqlValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Date
  | Uint8Array
  | readonly SqlValue[]
  | { [key: string]: unknown };

/**
 * A row as the driver returns it. Both implementations return the same JS types:
 * int2/int4/float → number, int8 → bigint (exact), numeric → string (exact), bool → boolean,
 * timestamptz/date → Date, json/jsonb → parsed value, bytea → Uint8Array, uuid/text → string,
 * arrays → arrays of the element type.
 */
export type SqlRow = Record<string, unknown>;

/** What a single statement returns. */
export interface QueryResult<R extends SqlRow = SqlRow> {
  /** Rows in order; empty for statements without a result set. */
  rows: R[];
  /** Rows returned or affected, as the server reports it. */
  rowCount: number;
}

/** Runs statements: a client outside a transaction, or the handle passed into one. */
export interface SqlExecutor {
  /** One statement, parameters as `$1, $2, ...` (never interpolated into the text). */
  query<R extends SqlRow = SqlRow>(
    sql: string,
    params?: readonly SqlValue[],
  ): Promise<QueryResult<R>>;
  /** A script of one or more statements without parameters (migrations, DDL). */
  execute(script: string): Promise<void>;
}

/**
 * The one interface services use for their metadata, implemented on PostgreSQL (`pg`) and on
 * PGlite (in-process, the embedded default). Unqualified table names resolve in the service's
 * schema (the client's `search_path`).
 */
export interface SqlClient extends SqlExecutor {
  /** Which engine runs underneath. */
  readonly dialect: 'postgres' | 'pglite';
  /** The schema unqualified names resolve in. */
  readonly schema: string;
  /**
   * Runs `fn` in a transaction: committed when it resolves, rolled back when it throws (the error
   * is rethrown). Use `tx` for every statement inside; the handle is dead once `fn` settles.
   * Every change that touches more than one row goes through here.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Closes connections (pool) or the embedded database. */
  close(): Promise<void>;
}
