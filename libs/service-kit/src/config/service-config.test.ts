import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './env-schema.js';
import { readServiceSettings } from './service-config.js';

const SECRET = 'a-test-secret-that-is-32-bytes-long!';

function refusal(source: Record<string, string>): string {
  try {
    readServiceSettings('datasets', 50061, source);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('readServiceSettings', () => {
  it('defaults to JWT auth, which needs a key and an issuer', () => {
    expect(refusal({})).toContain('LATHE_JWT_SECRET');
    expect(refusal({ LATHE_JWT_SECRET: SECRET })).toBe(
      'invalid configuration: LATHE_JWT_ISSUER is required when LATHE_AUTH_MODE=jwt',
    );
    const s = readServiceSettings('datasets', 50061, {
      LATHE_JWT_SECRET: SECRET,
      LATHE_JWT_ISSUER: 'https://id.example',
    });
    expect(s.auth).toEqual({
      mode: 'jwt',
      key: { kind: 'secret', secret: SECRET },
      issuer: 'https://id.example',
      audience: 'lathe.datasets',
      algorithms: ['HS256'],
    });
    expect(s.port).toBe(50061);
    expect(s.maxReceiveBytes).toBe(4 * 1024 * 1024);
  });

  it('refuses weak or mismatched JWT settings', () => {
    expect(refusal({ LATHE_JWT_SECRET: 'short', LATHE_JWT_ISSUER: 'i' })).toContain(
      'LATHE_JWT_SECRET must be at least 32 bytes',
    );
    expect(
      refusal({ LATHE_JWT_SECRET: SECRET, LATHE_JWT_ISSUER: 'i', LATHE_JWT_ALGORITHMS: 'none' }),
    ).toContain('LATHE_JWT_ALGORITHMS lists "none"');
    expect(
      refusal({ LATHE_JWT_SECRET: SECRET, LATHE_JWT_ISSUER: 'i', LATHE_JWT_ALGORITHMS: 'RS256' }),
    ).toContain('LATHE_JWT_ALGORITHMS lists "RS256"');
    expect(
      refusal({
        LATHE_JWT_SECRET: SECRET,
        LATHE_JWT_JWKS_URL: 'https://id/jwks',
        LATHE_JWT_ISSUER: 'i',
      }),
    ).toContain('exactly one');
  });

  it('allows no auth only when asked, and checks TLS files', () => {
    expect(readServiceSettings('training', 50064, { LATHE_AUTH_MODE: 'none' }).auth).toEqual({
      mode: 'none',
    });
    expect(refusal({ LATHE_AUTH_MODE: 'none', LATHE_TLS_CERT_FILE: '/nonexistent/cert.pem' })).toBe(
      'invalid configuration: LATHE_TLS_CERT_FILE names a file that cannot be read: "/nonexistent/cert.pem"',
    );
    const dir = mkdtempSync(join(tmpdir(), 'kit-tls-'));
    writeFileSync(join(dir, 'c.pem'), 'x');
    expect(refusal({ LATHE_AUTH_MODE: 'none', LATHE_TLS_CERT_FILE: join(dir, 'c.pem') })).toContain(
      'LATHE_TLS_KEY_FILE and LATHE_TLS_CERT_FILE must be set together',
    );
    expect(
      refusal({ LATHE_AUTH_MODE: 'none', LATHE_TLS_CLIENT_CA_FILE: join(dir, 'c.pem') }),
    ).toContain('LATHE_TLS_CLIENT_CA_FILE needs');
  });
});
