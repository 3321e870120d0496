import { SignJWT } from 'jose';

/** What a test token says. */
export interface TestTokenClaims {
  readonly secret: string;
  readonly issuer: string;
  readonly audience: string;
  readonly subject?: string;
  readonly roles?: readonly string[];
  /** Seconds from now until expiry; negative for an expired token. Default 300. */
  readonly expiresInSeconds?: number;
}

/** An HS256 token as an identity provider would issue it. */
export async function signTestToken(claims: TestTokenClaims): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles: [...(claims.roles ?? [])] })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(claims.issuer)
    .setAudience(claims.audience)
    .setSubject(claims.subject ?? 'test-user')
    .setIssuedAt(now - 60)
    .setExpirationTime(now + (claims.expiresInSeconds ?? 300))
    .sign(new TextEncoder().encode(claims.secret));
}

/** An `alg: none` token (no signature) carrying otherwise valid claims: services must refuse it. */
export function unsignedTestToken(claims: Omit<TestTokenClaims, 'secret'>): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const payload = {
    iss: claims.issuer,
    aud: claims.audience,
    sub: claims.subject ?? 'test-user',
    roles: claims.roles ?? [],
    iat: now,
    exp: now + 300,
  };
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(payload)}.`;
}
