import { randomUUID } from 'node:crypto';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import { Role } from '@lathe/contracts/lathe/preferences/v1/annotator';
import type { Annotator, AnnotatorToken } from '@lathe/contracts/lathe/preferences/v1/annotator';
import { isUniqueViolation } from '@lathe/store';
import type { SqlClient } from '@lathe/store';
import { LatheError } from '@lathe/service-kit';
import { hashTokenSecret, newTokenSecret } from '../auth/token-secret.js';

interface AnnotatorRow extends Record<string, unknown> {
  id: string;
  display_name: string;
  email: string | null;
  max_role: Role;
  create_time: Date;
}

interface TokenRow extends Record<string, unknown> {
  id: string;
  annotator_id: string;
  role: Role;
  description: string;
  issue_time: Date;
  expire_time: Date | null;
  revoke_time: Date | null;
}

function annotatorOf(row: AnnotatorRow): Annotator {
  return {
    id: row.id,
    displayName: row.display_name,
    email: row.email ?? '',
    maxRole: row.max_role,
    createTime: row.create_time,
  };
}

function tokenOf(row: TokenRow): AnnotatorToken {
  return {
    id: row.id,
    annotatorId: row.annotator_id,
    role: row.role,
    description: row.description,
    issueTime: row.issue_time,
    expireTime: row.expire_time ?? undefined,
    revokeTime: row.revoke_time ?? undefined,
  };
}

/** Creates an annotator; a taken email is ALREADY_EXISTS. */
export async function createAnnotator(
  db: SqlClient,
  input: { displayName: string; email: string; maxRole: Role },
): Promise<Annotator> {
  try {
    const { rows } = await db.query<AnnotatorRow>(
      'INSERT INTO annotators (id, display_name, email, max_role) VALUES ($1, $2, $3, $4) RETURNING *',
      [
        `ann_${randomUUID()}`,
        input.displayName,
        input.email === '' ? null : input.email,
        input.maxRole,
      ],
    );
    return annotatorOf(rows[0] as AnnotatorRow);
  } catch (error) {
    if (isUniqueViolation(error))
      throw LatheError.alreadyExists('annotator with email', input.email);
    throw error;
  }
}

/** Issues a token for an annotator, up to its max role; the secret is returned once, stored hashed. */
export async function issueToken(
  db: SqlClient,
  input: { annotatorId: string; role: Role; ttlMs: number | undefined; description: string },
): Promise<{ token: AnnotatorToken; secret: string }> {
  const { rows } = await db.query<AnnotatorRow>('SELECT * FROM annotators WHERE id = $1', [
    input.annotatorId,
  ]);
  const annotator = rows[0];
  if (annotator === undefined)
    throw LatheError.notFound('annotator', input.annotatorId, {
      reason: ErrorReason.ERROR_REASON_ANNOTATOR_NOT_FOUND,
    });
  if (input.role > annotator.max_role)
    throw LatheError.invalidArgument([
      {
        field: 'role',
        description: `exceeds the max role of annotator "${annotator.id}" (${Role[annotator.max_role] ?? '?'})`,
      },
    ]);
  const secret = newTokenSecret();
  const expire = input.ttlMs === undefined ? null : new Date(Date.now() + input.ttlMs);
  const inserted = await db.query<TokenRow>(
    `INSERT INTO annotator_tokens (id, annotator_id, secret_sha256, role, description, expire_time)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [
      `tok_${randomUUID()}`,
      annotator.id,
      hashTokenSecret(secret),
      input.role,
      input.description,
      expire,
    ],
  );
  return { token: tokenOf(inserted.rows[0] as TokenRow), secret };
}

/** Revokes a token at once; revoking twice returns the first revocation. */
export async function revokeToken(
  db: SqlClient,
  tokenId: string,
  reason: string,
): Promise<AnnotatorToken> {
  const { rows } = await db.query<TokenRow>(
    `UPDATE annotator_tokens SET revoke_time = COALESCE(revoke_time, now()),
       revoke_reason = COALESCE(revoke_reason, $2) WHERE id = $1 RETURNING *`,
    [tokenId, reason],
  );
  const row = rows[0];
  if (row === undefined)
    throw LatheError.notFound('token', tokenId, {
      reason: ErrorReason.ERROR_REASON_TOKEN_NOT_FOUND,
    });
  return tokenOf(row);
}
