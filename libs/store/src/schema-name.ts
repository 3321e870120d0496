/** Lowercase letters, digits and `_`, starting with a letter: no quoting surprises, ≤ 63 bytes. */
const SCHEMA_NAME = /^[a-z][a-z0-9_]{0,62}$/;

/**
 * Checks a schema name before it is put into SQL text (identifiers cannot be parameters).
 * Names starting with `pg_` are reserved by PostgreSQL.
 */
export function assertSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema) || schema.startsWith('pg_')) {
    throw new Error(
      `schema name "${schema}" is invalid: use 1-63 of [a-z0-9_], starting with a letter, not starting with "pg_"`,
    );
  }
  return schema;
}
