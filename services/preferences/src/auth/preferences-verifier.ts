import { timingSafeEqual } from 'node:crypto';
import { LatheError } from '@lathe/service-kit';
import type { Principal, TokenVerifier } from '@lathe/service-kit';
import type { SqlExecutor } from '@lathe/store';
import type { RateLimiter } from '../domain/rate-limiter.js';
import { ANNOTATOR_CLAIM, roleName } from './caller.js';
import { hashTokenSecret, TOKEN_PREFIX } from './token-secret.js';

/** What {@link createPreferencesVerifier} checks tokens against. */
export interface PreferencesVerifierOptions {
  /** Where issued annotator tokens are stored (hashed). */
  readonly store: SqlExecutor;
  /** The kit's JWT verifier, for operators' tokens; undefined when only opaque tokens are accepted. */
  readonly jwt: TokenVerifier | undefined;
  /** sha256 of the bootstrap admin secret, when one is configured. */
  readonly adminSecretSha256: Buffer | undefined;
  /** Per-annotator call budget. */
  readonly limiter: RateLimiter;
}

/**
 * The service's token verifier, handed to the kit's adaptHandlers in place of its JWT-only one
 * (the kit's startService has no hook for it): `lpt_` secrets issued by this service are looked
 * up by hash on every call, so a revocation takes effect at once; the bootstrap admin secret is
 * compared in constant time; anything else goes to the JWT verifier. Calls made as an annotator
 * are rate limited per annotator, RESOURCE_EXHAUSTED with the wait in RetryInfo.
 */
export function createPreferencesVerifier(options: PreferencesVerifierOptions): TokenVerifier {
  const limit = (principal: Principal): Principal => {
    const annotator = principal.claims[ANNOTATOR_CLAIM];
    if (typeof annotator !== 'string') return principal;
    const waitMs = options.limiter.take(annotator);
    if (waitMs > 0)
      throw LatheError.resourceExhausted(`annotator "${annotator}" is over its rate limit`, waitMs);
    return principal;
  };
  return async (token) => {
    const hash = hashTokenSecret(token);
    if (options.adminSecretSha256 !== undefined && timingSafeEqual(hash, options.adminSecretSha256))
      return { subject: 'admin-token', roles: ['admin'], claims: { sub: 'admin-token' } };
    if (token.startsWith(TOKEN_PREFIX)) return limit(await annotatorPrincipal(options.store, hash));
    if (options.jwt === undefined)
      throw LatheError.unauthenticated('bearer token is not known to this service');
    return limit(await options.jwt(token));
  };
}

interface TokenRow extends Record<string, unknown> {
  id: string;
  annotator_id: string;
  role: number;
  expire_time: Date | null;
  revoke_time: Date | null;
}

async function annotatorPrincipal(store: SqlExecutor, hash: Buffer): Promise<Principal> {
  const { rows } = await store.query<TokenRow>(
    'SELECT id, annotator_id, role, expire_time, revoke_time FROM annotator_tokens WHERE secret_sha256 = $1',
    [hash],
  );
  const row = rows[0];
  if (row === undefined)
    throw LatheError.unauthenticated('bearer token is not known to this service');
  if (row.revoke_time !== null) throw LatheError.unauthenticated('bearer token was revoked');
  if (row.expire_time !== null && row.expire_time.getTime() <= Date.now())
    throw LatheError.unauthenticated('bearer token has expired');
  const subject = `annotator:${row.annotator_id}`;
  return {
    subject,
    roles: [roleName(row.role)],
    claims: { sub: subject, [ANNOTATOR_CLAIM]: row.annotator_id, lathe_token_id: row.id },
  };
}
