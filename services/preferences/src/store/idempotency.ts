import { createHash } from 'node:crypto';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import { LatheError } from '@lathe/service-kit';
import { isUniqueViolation } from '@lathe/store';
import type { SqlClient, SqlExecutor } from '@lathe/store';

/** A stored answer to replay, or undefined when the key is new. */
async function storedAnswer(
  db: SqlExecutor,
  scope: { caller: string; rpc: string; key: string },
  requestSha256: Buffer,
): Promise<Uint8Array | undefined> {
  const { rows } = await db.query<{ request_sha256: Uint8Array; response: Uint8Array }>(
    'SELECT request_sha256, response FROM idempotency_records WHERE caller = $1 AND rpc = $2 AND key = $3',
    [scope.caller, scope.rpc, scope.key],
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  if (!Buffer.from(row.request_sha256).equals(requestSha256))
    throw LatheError.aborted(
      `idempotency key "${scope.key}" was used for a different ${scope.rpc} request`,
      {
        reason: ErrorReason.ERROR_REASON_IDEMPOTENCY_KEY_REUSED,
        metadata: { idempotencyKey: scope.key },
      },
    );
  return row.response;
}

/**
 * Runs `body` at most once per (caller, rpc, key): the encoded answer is stored in the same
 * transaction as the effects, so a retry (even one racing the original) gets the stored answer
 * with `replayed` true and nothing is applied twice. The same key with another request is ABORTED.
 */
export async function once<T>(
  db: SqlClient,
  scope: { caller: string; rpc: string; key: string },
  request: Uint8Array,
  codec: { encode(message: T): { finish(): Uint8Array }; decode(bytes: Uint8Array): T },
  body: (tx: SqlExecutor) => Promise<T>,
): Promise<{ response: T; replayed: boolean }> {
  const requestSha256 = createHash('sha256').update(request).digest();
  for (let attempt = 0; ; attempt++) {
    const before = await storedAnswer(db, scope, requestSha256);
    if (before !== undefined) return { response: codec.decode(before), replayed: true };
    try {
      const response = await db.transaction(async (tx) => {
        const result = await body(tx);
        await tx.query(
          'INSERT INTO idempotency_records (caller, rpc, key, request_sha256, response) VALUES ($1, $2, $3, $4, $5)',
          [scope.caller, scope.rpc, scope.key, requestSha256, codec.encode(result).finish()],
        );
        return result;
      });
      return { response, replayed: false };
    } catch (error) {
      // A concurrent call with the same key committed first: replay its answer.
      if (attempt === 0 && isUniqueViolation(error)) continue;
      throw error;
    }
  }
}
