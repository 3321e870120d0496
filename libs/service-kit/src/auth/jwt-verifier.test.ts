import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { status } from '@grpc/grpc-js';
import { exportJWK, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { isLatheError } from '../errors/lathe-error.js';
import { signTestToken, unsignedTestToken } from '../testing/test-tokens.js';
import { bearerToken, createJwtVerifier } from './jwt-verifier.js';
import { authorize } from './method-roles.js';

const SECRET = 'a-test-secret-that-is-32-bytes-long!';
const claims = {
  secret: SECRET,
  issuer: 'https://id.test',
  audience: 'lathe.datasets',
  roles: ['dataset-reader'],
};
const verify = createJwtVerifier({
  mode: 'jwt',
  key: { kind: 'secret', secret: SECRET },
  issuer: claims.issuer,
  audience: claims.audience,
  algorithms: ['HS256'],
});

async function refusal(token: string): Promise<string> {
  try {
    await verify(token);
  } catch (error) {
    if (isLatheError(error) && error.code === status.UNAUTHENTICATED) return error.rawMessage;
    throw error;
  }
  throw new Error('token was accepted');
}

describe('createJwtVerifier', () => {
  it('accepts a valid token and exposes subject and roles', async () => {
    const p = await verify(await signTestToken({ ...claims, subject: 'ana' }));
    expect(p.subject).toBe('ana');
    expect(p.roles).toEqual(['dataset-reader']);
  });

  it('refuses expired, wrong audience, wrong issuer, bad signature, alg none and other algorithms', async () => {
    expect(await refusal(await signTestToken({ ...claims, expiresInSeconds: -120 }))).toBe(
      'bearer token has expired',
    );
    expect(await refusal(await signTestToken({ ...claims, audience: 'lathe.registry' }))).toContain(
      'claim "aud"',
    );
    expect(await refusal(await signTestToken({ ...claims, issuer: 'https://evil' }))).toContain(
      'claim "iss"',
    );
    expect(
      await refusal(
        await signTestToken({ ...claims, secret: 'another-secret-that-is-32-bytes-long' }),
      ),
    ).toBe('bearer token signature does not verify');
    expect(await refusal(unsignedTestToken(claims))).toBe(
      'bearer token is signed with an algorithm this service does not accept',
    );
    const hs512 = await new SignJWT({ roles: [] })
      .setProtectedHeader({ alg: 'HS512' })
      .setIssuer(claims.issuer)
      .setAudience(claims.audience)
      .setSubject('x')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET));
    expect(await refusal(hs512)).toBe(
      'bearer token is signed with an algorithm this service does not accept',
    );
    expect(await refusal('not.a.jwt')).toBe('bearer token is malformed');
  });

  it('verifies RS256 with a public key and refuses HS256 tokens signed with that key text', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const rs = createJwtVerifier({
      mode: 'jwt',
      key: { kind: 'public-key', pem },
      issuer: 'i',
      audience: 'a',
      algorithms: ['RS256'],
    });
    const good = await new SignJWT({ roles: ['admin'] })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer('i')
      .setAudience('a')
      .setSubject('s')
      .setExpirationTime('5m')
      .sign(privateKey);
    expect((await rs(good)).roles).toEqual(['admin']);
    // The classic key-confusion attack: an HMAC token keyed with the public key's PEM.
    const confused = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('i')
      .setAudience('a')
      .setSubject('s')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(pem));
    await expect(rs(confused)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
  });
});

describe('createJwtVerifier with a JWKS endpoint', () => {
  it('fetches the key set over HTTP and verifies by key id', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const jwks = createJwtVerifier({
        mode: 'jwt',
        key: { kind: 'jwks', url: `http://127.0.0.1:${String(port)}/jwks` },
        issuer: 'i',
        audience: 'a',
        algorithms: ['ES256'],
      });
      const sign = (kid: string): Promise<string> =>
        new SignJWT({ roles: ['reviewer'] })
          .setProtectedHeader({ alg: 'ES256', kid })
          .setIssuer('i')
          .setAudience('a')
          .setSubject('s')
          .setExpirationTime('5m')
          .sign(privateKey);
      expect((await jwks(await sign('k1'))).roles).toEqual(['reviewer']);
      await expect(jwks(await sign('k2'))).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    } finally {
      server.close();
    }
  });
});

describe('bearerToken and authorize', () => {
  it('requires "Bearer <token>" and one of the roles', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(() => bearerToken(undefined)).toThrow(/missing bearer token/);
    expect(() => bearerToken('Basic abc')).toThrow(/must be "Bearer <jwt>"/);
    const ana = { subject: 'ana', roles: ['dataset-reader'], claims: {} };
    expect(() => authorize('x/Get', ['dataset-reader', 'admin'], ana)).not.toThrow();
    expect(() => authorize('x/Create', ['dataset-editor'], ana)).toThrow(
      'x/Create requires one of the roles dataset-editor; "ana" has dataset-reader',
    );
  });
});
