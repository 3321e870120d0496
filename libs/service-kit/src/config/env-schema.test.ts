import { describe, expect, it } from 'vitest';
import { ConfigError, env, readEnv } from './env-schema.js';

const schema = {
  port: env.port(['LATHE_DATASETS_PORT', 'LATHE_GRPC_PORT'], 'port', 50061),
  mode: env.oneOf('LATHE_AUTH_MODE', 'mode', ['jwt', 'none'], 'jwt'),
  url: env.string('DATABASE_URL', 'database'),
  tags: env.list('TAGS', 'tags', ['a']),
};

function failure(source: Record<string, string>): ConfigError {
  try {
    readEnv(schema, source);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('readEnv', () => {
  it('applies defaults and precedence between names', () => {
    expect(readEnv(schema, { DATABASE_URL: 'postgres://x' })).toEqual({
      port: 50061,
      mode: 'jwt',
      url: 'postgres://x',
      tags: ['a'],
    });
    expect(readEnv(schema, { DATABASE_URL: 'u', LATHE_GRPC_PORT: '7000' }).port).toBe(7000);
    expect(
      readEnv(schema, { DATABASE_URL: 'u', LATHE_GRPC_PORT: '7000', LATHE_DATASETS_PORT: '7001' })
        .port,
    ).toBe(7001);
    expect(readEnv(schema, { DATABASE_URL: 'u', TAGS: ' x, ,y ' }).tags).toEqual(['x', 'y']);
  });

  it('names the variable and the reason in one line', () => {
    const missing = failure({});
    expect(missing.variable).toBe('DATABASE_URL');
    expect(missing.message).toBe('invalid configuration: DATABASE_URL is required but not set');
    expect(failure({ DATABASE_URL: 'u', LATHE_GRPC_PORT: 'http' }).message).toBe(
      'invalid configuration: LATHE_GRPC_PORT must be an integer, got "http"',
    );
    expect(failure({ DATABASE_URL: 'u', LATHE_DATASETS_PORT: '70000' }).message).toContain(
      'LATHE_DATASETS_PORT must be between 0 and 65535',
    );
    expect(failure({ DATABASE_URL: 'u', LATHE_AUTH_MODE: 'basic' }).message).toBe(
      'invalid configuration: LATHE_AUTH_MODE must be one of jwt|none, got "basic"',
    );
    for (const e of [missing, failure({ DATABASE_URL: 'u', LATHE_AUTH_MODE: 'x' })])
      expect(e.message).not.toContain('\n');
  });

  it('treats an empty value as unset', () => {
    expect(failure({ DATABASE_URL: '' }).variable).toBe('DATABASE_URL');
  });
});
