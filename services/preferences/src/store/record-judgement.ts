import {
  SubmitJudgementRequest,
  SubmitJudgementResponse,
} from '@lathe/contracts/lathe/preferences/v1/preference_service';
import type { SqlClient } from '@lathe/store';
import type { Caller } from '../auth/caller.js';
import type { OutboxRelay } from '../events/outbox.js';
import { once } from './idempotency.js';
import { submitJudgement } from './judgements.js';

/**
 * SubmitJudgement as both doors (gRPC and the web page) run it: at most once per caller and
 * idempotency key, and the relay is woken to publish judgement_submitted when it was applied.
 */
export async function recordJudgement(
  db: SqlClient,
  relay: OutboxRelay,
  caller: Caller,
  request: SubmitJudgementRequest,
): Promise<SubmitJudgementResponse> {
  const { response, replayed } = await once(
    db,
    { caller: caller.key, rpc: 'SubmitJudgement', key: request.idempotencyKey },
    SubmitJudgementRequest.encode(request).finish(),
    SubmitJudgementResponse,
    async (tx) => ({ judgement: await submitJudgement(tx, caller, request), replayed: false }),
  );
  if (!replayed) relay.kick();
  return { ...response, replayed };
}
