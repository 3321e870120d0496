import { createPublicKey } from 'node:crypto';
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import type { AuthSettings } from '../config/service-config.js';
import { LatheError } from '../errors/lathe-error.js';

/** Who is calling, as established from a verified token. */
export interface Principal {
  /** The token's `sub`. */
  readonly subject: string;
  /** Roles granted by the token's `roles` claim (an array of strings). */
  readonly roles: readonly string[];
  /** Every verified claim, for handlers that need more. */
  readonly claims: JWTPayload;
}

/** Verifies a bearer token; rejects with an UNAUTHENTICATED {@link LatheError} saying why. */
export type TokenVerifier = (token: string) => Promise<Principal>;

type JwtSettings = Extract<AuthSettings, { mode: 'jwt' }>;

/**
 * A verifier checking signature, `alg` (only the configured ones: `none` and anything else are
 * refused before any key is used), `iss`, `aud`, `exp` and `nbf` (30 s clock tolerance).
 */
export function createJwtVerifier(settings: JwtSettings): TokenVerifier {
  const algorithms = [...settings.algorithms];
  const verifyWith = keyOf(settings);
  return async (token) => {
    try {
      const { payload } = await verifyWith(token, {
        algorithms,
        issuer: settings.issuer,
        audience: settings.audience,
        clockTolerance: 30,
        requiredClaims: ['exp', 'sub'],
      });
      return { subject: payload.sub ?? '', roles: rolesOf(payload), claims: payload };
    } catch (error) {
      throw LatheError.unauthenticated(explain(error), { cause: error });
    }
  };
}

type Verify = (
  token: string,
  options: Parameters<typeof jwtVerify>[2],
) => Promise<{ payload: JWTPayload }>;

function keyOf(settings: JwtSettings): Verify {
  const source = settings.key;
  switch (source.kind) {
    case 'secret': {
      const secret = new TextEncoder().encode(source.secret);
      return (token, options) => jwtVerify(token, secret, options);
    }
    case 'public-key': {
      const key = createPublicKey(source.pem);
      return (token, options) => jwtVerify(token, key, options);
    }
    case 'jwks': {
      const jwks: JWTVerifyGetKey = createRemoteJWKSet(new URL(source.url));
      return (token, options) => jwtVerify(token, jwks, options);
    }
  }
}

function rolesOf(payload: JWTPayload): readonly string[] {
  const roles = payload['roles'];
  return Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [];
}

// Callers get the category of the failure (enough to fix their token), not verifier internals.
function explain(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'bearer token has expired';
  if (error instanceof errors.JOSEAlgNotAllowed)
    return 'bearer token is signed with an algorithm this service does not accept';
  if (error instanceof errors.JWTClaimValidationFailed)
    return `bearer token claim "${error.claim}" is invalid: ${error.reason}`;
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return 'bearer token signature does not verify';
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid)
    return 'bearer token is malformed';
  if (error instanceof errors.JWKSNoMatchingKey)
    return 'bearer token key id is not in the issuer key set';
  return 'bearer token could not be verified';
}

/** Extracts the token of an `authorization: Bearer <token>` metadata value. */
export function bearerToken(authorization: unknown): string {
  if (typeof authorization !== 'string' || authorization === '') {
    throw LatheError.unauthenticated(
      'missing bearer token: send "authorization: Bearer <jwt>" metadata',
    );
  }
  const match = /^Bearer\s+(\S+)$/i.exec(authorization);
  if (match?.[1] === undefined)
    throw LatheError.unauthenticated('"authorization" metadata must be "Bearer <jwt>"');
  return match[1];
}
