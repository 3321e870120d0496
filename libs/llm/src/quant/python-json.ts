/**
 * JSON text as Python's `json.dumps` writes it with default settings (", " and ": " separators,
 * floats as `repr`), so the quant-state bytes Lathe writes are the bytes bitsandbytes writes.
 */
export type PythonJsonValue =
  | string
  | boolean
  | null
  | { readonly int: number }
  | { readonly float: number }
  | readonly PythonJsonValue[]
  | { readonly [key: string]: PythonJsonValue };

/** Python's `repr(float)`: shortest round-trip digits, exponent form below 1e-4 or from 1e16. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, exp] = x.toExponential().split('e') as [string, string];
  const exponent = Number(exp);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const sign = negative ? '-' : '';
  if (exponent < -4 || exponent >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exponent).toString().padStart(2, '0');
    return `${sign}${m}e${exponent < 0 ? '-' : '+'}${e}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  const fraction = digits.slice(exponent + 1);
  return `${sign}${whole}.${fraction === '' ? '0' : fraction}`;
}

/** `json.dumps(value)` with Python's default separators. */
export function pythonJsonDumps(value: PythonJsonValue): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return pythonString(value);
  if (Array.isArray(value)) {
    return `[${(value as readonly PythonJsonValue[]).map(pythonJsonDumps).join(', ')}]`;
  }
  const record = value as Record<string, PythonJsonValue>;
  if ('int' in record && typeof record['int'] === 'number' && Object.keys(record).length === 1) {
    return String(record['int']);
  }
  if (
    'float' in record &&
    typeof record['float'] === 'number' &&
    Object.keys(record).length === 1
  ) {
    return pythonFloatRepr(record['float']);
  }
  const parts = Object.entries(record).map(([k, v]) => `${pythonString(k)}: ${pythonJsonDumps(v)}`);
  return `{${parts.join(', ')}}`;
}

/** json.dumps escapes every non-ASCII character (ensure_ascii=True). */
function pythonString(s: string): string {
  return JSON.stringify(s).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
