// Values the way Helm combines them: a chart's values.yaml, then each -f file over it.

/** A YAML/JSON value. */
export type Value = null | boolean | number | string | Value[] | { [key: string]: Value };

function isMap(value: Value | undefined): value is { [key: string]: Value } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Merges `override` over `base` like Helm: maps merge key by key, recursively; lists and scalars
 * replace; a `null` in the override deletes the key. Neither input is modified.
 */
export function mergeValues(base: Value, override: Value): Value {
  if (!isMap(base) || !isMap(override)) return override;
  const merged: { [key: string]: Value } = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete merged[key];
    else merged[key] = key in merged ? mergeValues(merged[key] ?? null, value) : value;
  }
  return merged;
}

/** The value at a dotted path, or `undefined` when a key on the way is missing. */
export function valueAt(values: Value, path: string): Value | undefined {
  let current: Value | undefined = values;
  for (const key of path.split('.')) {
    if (!isMap(current)) return undefined;
    current = current[key];
  }
  return current;
}
