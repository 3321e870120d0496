import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { status } from '@grpc/grpc-js';
import { AssignmentState, Choice } from '@lathe/contracts/lathe/preferences/v1/judgement';
import type { Assignment } from '@lathe/contracts/lathe/preferences/v1/judgement';
import { bearerToken, isLatheError, LatheError } from '@lathe/service-kit';
import type { Logger, TokenVerifier } from '@lathe/service-kit';
import type { SqlClient } from '@lathe/store';
import { ANNOTATOR_CLAIM } from '../auth/caller.js';
import type { Caller } from '../auth/caller.js';
import { LIMITS } from '../domain/field-limits.js';
import type { OutboxRelay } from '../events/outbox.js';
import { nextAssignment } from '../store/assignments.js';
import { listTasks } from '../store/tasks.js';
import { SubmitJudgementRequest } from '@lathe/contracts/lathe/preferences/v1/preference_service';
import { recordJudgement } from '../store/record-judgement.js';
import { msDuration } from '../store/rows.js';
import { ANNOTATOR_PAGE } from './annotator-page.js';

/** What the web page needs. */
export interface WebPageOptions {
  readonly db: SqlClient;
  readonly relay: OutboxRelay;
  /** The same verifier as gRPC: same tokens, revocation and rate limits. */
  readonly verifier: TokenVerifier;
  readonly host: string;
  readonly port: number;
  readonly log: Logger;
}

// gRPC codes to HTTP statuses for the page's JSON API (the page shows the message).
const HTTP_STATUS: Partial<Record<status, number>> = {
  [status.INVALID_ARGUMENT]: 400,
  [status.UNAUTHENTICATED]: 401,
  [status.PERMISSION_DENIED]: 403,
  [status.NOT_FOUND]: 404,
  [status.ABORTED]: 409,
  [status.ALREADY_EXISTS]: 409,
  [status.FAILED_PRECONDITION]: 412,
  [status.RESOURCE_EXHAUSTED]: 429,
};

const MAX_BODY = 64 * 1024;

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_BODY)
      throw LatheError.invalidArgument([
        { field: 'body', description: `is larger than ${String(MAX_BODY)} bytes` },
      ]);
    chunks.push(b);
  }
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw LatheError.invalidArgument([{ field: 'body', description: 'must be a JSON object' }]);
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function assignmentJson(a: Assignment | undefined): unknown {
  if (a === undefined) return null;
  const text = (m: { content: string }[] | undefined): string =>
    (m ?? []).map((x) => x.content).join('\n\n');
  return {
    id: a.id,
    itemId: a.itemId,
    prompt: a.prompt.map((m) => ({ role: m.role, content: m.content })),
    a: text(a.candidateA?.messages),
    b: text(a.candidateB?.messages),
    instructions: a.instructions,
    allowTie: a.allowTie,
  };
}

const CHOICES: Readonly<Record<string, Choice>> = {
  A: Choice.CHOICE_A,
  B: Choice.CHOICE_B,
  TIE: Choice.CHOICE_TIE,
};

/**
 * The annotators' page and its JSON API, on its own HTTP port: `GET /` serves one self-contained
 * HTML page (no build step); `GET /api/me`, `GET /api/tasks/<id>/next` and `POST /api/judgements`
 * take `authorization: Bearer <token>` and run the same store code as the gRPC rpcs.
 */
export async function startWebPage(
  options: WebPageOptions,
): Promise<{ port: number; close(): Promise<void> }> {
  const { db, relay, verifier } = options;
  const annotatorOf = async (req: IncomingMessage): Promise<Caller & { annotatorId: string }> => {
    const principal = await verifier(bearerToken(req.headers.authorization));
    const id = principal.claims[ANNOTATOR_CLAIM];
    if (typeof id !== 'string')
      throw LatheError.permissionDenied('the web page is for annotator tokens');
    return { key: `annotator:${id}`, role: 1, annotatorId: id };
  };
  const progress = async (taskId: string, annotatorId: string): Promise<number> => {
    const { rows } = await db.query<{ n: bigint }>(
      `SELECT count(*) AS n FROM assignments WHERE task_id = $1 AND annotator_id = $2 AND state = ${String(AssignmentState.ASSIGNMENT_STATE_SUBMITTED)}`,
      [taskId, annotatorId],
    );
    return Number(rows[0]?.n ?? 0);
  };
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://page');
    if (req.method === 'GET' && url.pathname === '/') {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy':
          "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
        'x-frame-options': 'DENY',
      });
      res.end(ANNOTATOR_PAGE);
      return;
    }
    const caller = await annotatorOf(req);
    if (req.method === 'GET' && url.pathname === '/api/me') {
      const { tasks } = await listTasks(db, 0, 100);
      send(res, 200, {
        annotatorId: caller.annotatorId,
        tasks: tasks.map((t) => ({ id: t.id, displayName: t.displayName })),
      });
      return;
    }
    const next = /^\/api\/tasks\/([^/]+)\/next$/.exec(url.pathname);
    if (req.method === 'GET' && next?.[1] !== undefined) {
      const taskId = decodeURIComponent(next[1]);
      const n = await nextAssignment(db, taskId, caller.annotatorId);
      send(res, 200, {
        assignment: assignmentJson(n.assignment),
        exhausted: n.exhausted,
        done: await progress(taskId, caller.annotatorId),
      });
      return;
    }
    if (req.method === 'POST' && url.pathname === '/api/judgements') {
      const body = await readJson(req);
      const str = (k: string): string => (typeof body[k] === 'string' ? body[k] : '');
      const choice = CHOICES[str('choice')];
      const key = str('idempotencyKey') || randomUUID();
      const ms =
        typeof body['timeSpentMs'] === 'number' ? Math.max(0, Math.floor(body['timeSpentMs'])) : 0;
      if (choice === undefined)
        throw LatheError.invalidArgument([{ field: 'choice', description: 'must be A, B or TIE' }]);
      if (str('rationale').length > LIMITS.rationaleChars || key.length > LIMITS.shortChars)
        throw LatheError.invalidArgument([
          { field: 'rationale', description: 'or idempotencyKey is too long' },
        ]);
      const request = SubmitJudgementRequest.fromPartial({
        assignmentId: str('assignmentId'),
        choice,
        rationale: str('rationale'),
        timeSpent: msDuration(ms),
        idempotencyKey: key,
        expectedRevision:
          typeof body['expectedRevision'] === 'number' ? body['expectedRevision'] : 0,
      });
      const response = await recordJudgement(db, relay, caller, request);
      send(res, 200, {
        judgementId: response.judgement?.id,
        revision: response.judgement?.revision,
        replayed: response.replayed,
      });
      return;
    }
    send(res, 404, { error: `no route ${req.method ?? ''} ${url.pathname}` });
  };
  const server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (isLatheError(error)) {
        send(res, HTTP_STATUS[error.code] ?? 500, {
          error: error.rawMessage,
          retryAfterMs: error.details.retryDelayMs,
        });
        return;
      }
      options.log.error('web request failed', {
        error: error instanceof Error ? error : new Error(String(error)),
      });
      send(res, 500, { error: 'internal error' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
