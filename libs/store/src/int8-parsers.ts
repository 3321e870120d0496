/** The type OID of int8 (bigint), whose default parsing differs between `pg` and PGlite. */
export const INT8_OID = 20;
/** The type OID of int8[]. */
export const INT8_ARRAY_OID = 1016;

/**
 * int8 as `bigint`: `pg` returns strings and PGlite bigints (and plain numbers inside arrays,
 * silently losing precision past 2^53), so both clients use these two parsers instead.
 */
export function parseInt8(text: string): bigint {
  return BigInt(text);
}

/** Parses a one-dimensional int8[] literal such as `{1,-2,NULL}`. */
export function parseInt8Array(text: string): (bigint | null)[] {
  if (!text.startsWith('{') || !text.endsWith('}') || text.startsWith('{{')) {
    throw new Error(`int8[] value "${text}" is not a one-dimensional array literal`);
  }
  const inner = text.slice(1, -1);
  if (inner === '') return [];
  return inner.split(',').map((item) => (item === 'NULL' ? null : BigInt(item)));
}
