import { accessSync, constants } from 'node:fs';

/** The environment a service reads its configuration from (`process.env` in `main.ts`). */
export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * A configuration problem found at start: one line naming the variable and the reason, so an
 * operator reading a crash-looping pod's log sees the fix at once.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** The environment variable at fault. */
  readonly variable: string;

  constructor(variable: string, reason: string) {
    super(`invalid configuration: ${variable} ${reason}`);
    this.variable = variable;
  }
}

/** One environment variable: its names (the first one set wins), its parser and its documentation. */
export interface EnvVar<T> {
  /** Names in order of precedence, e.g. `['LATHE_DATASETS_PORT', 'LATHE_GRPC_PORT']`. */
  readonly names: readonly string[];
  /** One line for READMEs and `--help`. */
  readonly doc: string;
  /** Turns the raw value (undefined when unset or empty) into T, or throws a reason string. */
  readonly parse: (raw: string | undefined) => T;
}

/** A named set of {@link EnvVar}s, parsed together by {@link readEnv}. */
export type EnvSchema = Readonly<Record<string, EnvVar<unknown>>>;

/** The typed configuration an {@link EnvSchema} yields. */
export type ConfigOf<S extends EnvSchema> = {
  readonly [K in keyof S]: S[K] extends EnvVar<infer T> ? T : never;
};

/** Thrown by parsers; {@link readEnv} turns it into a {@link ConfigError} naming the variable. */
class Refusal extends Error {
  override readonly name = 'Refusal';
  constructor(readonly reason: string) {
    super(reason);
  }
}

function names(name: string | readonly string[]): readonly string[] {
  return typeof name === 'string' ? [name] : name;
}

function withDefault<T>(
  raw: string | undefined,
  fallback: T | undefined,
  convert: (raw: string) => T,
): T {
  if (raw !== undefined) return convert(raw);
  if (fallback === undefined) throw new Refusal('is required but not set');
  return fallback;
}

function integerIn(min: number, max: number): (raw: string) => number {
  return (raw) => {
    if (!/^-?\d+$/.test(raw)) throw new Refusal(`must be an integer, got "${raw}"`);
    const n = Number(raw);
    if (n < min || n > max)
      throw new Refusal(`must be between ${String(min)} and ${String(max)}, got ${raw}`);
    return n;
  };
}

function readableFile(raw: string): string {
  try {
    accessSync(raw, constants.R_OK);
  } catch {
    throw new Refusal(`names a file that cannot be read: "${raw}"`);
  }
  return raw;
}

/** Builders of {@link EnvVar}s. Each variable is required unless it has a default or is `optional`. */
export const env = {
  /** A string; required unless `fallback` is given. */
  string(name: string | readonly string[], doc: string, fallback?: string): EnvVar<string> {
    return { names: names(name), doc, parse: (raw) => withDefault(raw, fallback, (r) => r) };
  },
  /** A string that may be absent. */
  optionalString(name: string | readonly string[], doc: string): EnvVar<string | undefined> {
    return { names: names(name), doc, parse: (raw) => raw };
  },
  /** An integer within [min, max]. */
  integer(
    name: string | readonly string[],
    doc: string,
    bounds: { min: number; max: number },
    fallback?: number,
  ): EnvVar<number> {
    return {
      names: names(name),
      doc,
      parse: (raw) => withDefault(raw, fallback, integerIn(bounds.min, bounds.max)),
    };
  },
  /** A TCP port; 0 asks the OS for a free one. */
  port(name: string | readonly string[], doc: string, fallback?: number): EnvVar<number> {
    return env.integer(name, doc, { min: 0, max: 65535 }, fallback);
  },
  /** One of a fixed set of lowercase words. */
  oneOf<const V extends string>(
    name: string | readonly string[],
    doc: string,
    values: readonly V[],
    fallback?: V,
  ): EnvVar<V> {
    const convert = (raw: string): V => {
      const found = values.find((v) => v === raw);
      if (found === undefined)
        throw new Refusal(`must be one of ${values.join('|')}, got "${raw}"`);
      return found;
    };
    return { names: names(name), doc, parse: (raw) => withDefault(raw, fallback, convert) };
  },
  /** A path to a readable file, checked at start; may be absent. */
  optionalFile(name: string | readonly string[], doc: string): EnvVar<string | undefined> {
    return {
      names: names(name),
      doc,
      parse: (raw) => (raw === undefined ? undefined : readableFile(raw)),
    };
  },
  /** A comma-separated list of words; empty items are dropped. */
  list(
    name: string | readonly string[],
    doc: string,
    fallback: readonly string[],
  ): EnvVar<readonly string[]> {
    const convert = (raw: string): readonly string[] =>
      raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    return { names: names(name), doc, parse: (raw) => withDefault(raw, fallback, convert) };
  },
};

/**
 * Parses every variable of `schema` from `source`, failing on the first problem with a
 * {@link ConfigError} naming it. Empty strings count as unset (as Kubernetes renders `value: ""`).
 */
export function readEnv<S extends EnvSchema>(schema: S, source: Environment): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  for (const [key, variable] of Object.entries(schema)) {
    const setName = variable.names.find((n) => (source[n] ?? '') !== '');
    const raw = setName === undefined ? undefined : source[setName];
    try {
      out[key] = variable.parse(raw);
    } catch (error) {
      if (error instanceof Refusal)
        throw new ConfigError(setName ?? variable.names.join(' or '), error.reason);
      throw error;
    }
  }
  return out as ConfigOf<S>;
}

/** Fails a cross-variable rule with a {@link ConfigError} naming `variable`. */
export function requireConfig(
  condition: boolean,
  variable: string,
  reason: string,
): asserts condition {
  if (!condition) throw new ConfigError(variable, reason);
}
