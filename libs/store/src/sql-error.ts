/** SQLSTATE codes callers commonly branch on. */
export const SqlState = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
} as const;

/**
 * A statement failed. Both drivers' errors become this, so callers branch on `sqlState` the same
 * way on PostgreSQL and PGlite. The driver's error is the `cause`.
 */
export class SqlError extends Error {
  override readonly name = 'SqlError';

  constructor(
    message: string,
    /** The SQLSTATE code (`23505` is a unique violation), when the server sent one. */
    readonly sqlState: string | undefined,
    /** The violated constraint, when the server named one. */
    readonly constraint: string | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** True when `error` is a unique-constraint violation (a duplicate key). */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof SqlError && error.sqlState === SqlState.uniqueViolation;
}

/** Wraps a driver error, keeping its SQLSTATE and naming the statement that failed. */
export function toSqlError(error: unknown, sql: string): SqlError {
  if (error instanceof SqlError) return error;
  const fields = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: unknown;
    constraint?: unknown;
    message?: unknown;
  };
  const message = typeof fields.message === 'string' ? fields.message : String(error);
  const statement = sql.length > 200 ? `${sql.slice(0, 200)}...` : sql;
  return new SqlError(
    `${message} (in: ${statement.replace(/\s+/g, ' ').trim()})`,
    typeof fields.code === 'string' ? fields.code : undefined,
    typeof fields.constraint === 'string' ? fields.constraint : undefined,
    { cause: error },
  );
}
