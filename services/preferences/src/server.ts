import { Role } from '@lathe/contracts/lathe/preferences/v1/annotator';
import { Choice } from '@lathe/contracts/lathe/preferences/v1/judgement';
import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import type { PageRequest } from '@lathe/contracts/lathe/common/v1/paging';
import {
  PreferenceServiceService,
  SubmitPairsRequest,
  SubmitPairsResponse,
} from '@lathe/contracts/lathe/preferences/v1/preference_service';
import { LatheError } from '@lathe/service-kit';
import type {
  MethodRoles,
  RequestRules,
  ServiceDescriptor,
  ServiceHandlers,
} from '@lathe/service-kit';
import type { SqlClient } from '@lathe/store';
import { callerOf, isReviewer, requireAnnotator } from './auth/caller.js';
import { PREFERENCES_DEFAULT_PORT, PREFERENCES_SERVICE } from './config.js';
import { FieldChecks, LIMITS } from './domain/field-limits.js';
import { checkItems } from './domain/item-checks.js';
import { taskAgreement } from './domain/task-agreement.js';
import type { DatasetsWriter } from './clients/datasets.js';
import type { OutboxRelay } from './events/outbox.js';
import { snapshotTask } from './store/snapshots.js';
import { importItems } from './store/import-items.js';
import { registerEvaluationSet } from './store/evaluation-sets.js';
import { createAnnotator, issueToken, revokeToken } from './store/annotators.js';
import { listAssignments, nextAssignment } from './store/assignments.js';
import { once } from './store/idempotency.js';
import { recordJudgement } from './store/record-judgement.js';
import { taskVerdicts } from './store/judgements.js';
import { recordPairs } from './store/pairs.js';
import { durationMs, msDuration } from './store/rows.js';
import { addItems, createTask, getTask, listTasks, loadTask } from './store/tasks.js';

type Definition = typeof PreferenceServiceService;

// The minimum role of each rpc is stated in preference_service.proto; higher roles include lower.
const ANNOTATOR = ['annotator', 'reviewer', 'admin'];
const REVIEWER = ['reviewer', 'admin'];
const ADMIN = ['admin'];

/** Who may call each rpc, as preference_service.proto states beside each. */
export const preferenceRoles: MethodRoles<Definition> = {
  createAnnotator: ADMIN,
  issueAnnotatorToken: ADMIN,
  revokeAnnotatorToken: ADMIN,
  createTask: ADMIN,
  getTask: ANNOTATOR,
  listTasks: ANNOTATOR,
  addItems: ADMIN,
  importItemsFromDataset: ADMIN,
  getNextAssignment: ANNOTATOR,
  listAssignments: ANNOTATOR,
  submitJudgement: ANNOTATOR,
  submitPairs: ANNOTATOR,
  getAgreement: REVIEWER,
  snapshotToDataset: ADMIN,
  registerEvaluationSet: ADMIN,
};

const knownRole = (role: Role): boolean =>
  role !== Role.UNRECOGNIZED && role !== Role.ROLE_UNSPECIFIED;

/** Request checks that need no storage. */
export const preferenceRules: RequestRules<Definition> = {
  createAnnotator: (r, v) =>
    v
      .required('displayName', r.displayName)
      .enumSet('maxRole', r.maxRole)
      .check(r.maxRole !== Role.UNRECOGNIZED, 'maxRole', 'must be a known role'),
  issueAnnotatorToken: (r, v) =>
    v
      .required('annotatorId', r.annotatorId)
      .check(knownRole(r.role), 'role', 'must be a known role'),
  revokeAnnotatorToken: (r, v) => v.required('tokenId', r.tokenId),
  createTask: (r, v) =>
    v
      .required('displayName', r.displayName)
      .intInRange('annotatorsPerItem', r.annotatorsPerItem, 1, 100),
  getTask: (r, v) => v.required('taskId', r.taskId),
  addItems: (r, v) =>
    v
      .required('taskId', r.taskId)
      .check(r.items.length > 0, 'items', 'must hold at least one item'),
  importItemsFromDataset: (r, v) =>
    v
      .required('taskId', r.taskId)
      .check(r.datasetVersion !== undefined, 'datasetVersion', 'is required')
      .check(r.maxItems >= 0, 'maxItems', 'must not be negative')
      .check(r.goldFraction >= 0 && r.goldFraction <= 1, 'goldFraction', 'must be in [0, 1]'),
  getNextAssignment: (r, v) => v.required('taskId', r.taskId),
  listAssignments: (r, v) => v.required('taskId', r.taskId),
  submitJudgement: (r, v) =>
    v
      .required('assignmentId', r.assignmentId)
      .required('idempotencyKey', r.idempotencyKey)
      .check(
        [Choice.CHOICE_A, Choice.CHOICE_B, Choice.CHOICE_TIE].includes(r.choice),
        'choice',
        'must be A, B or TIE',
      ),
  submitPairs: (r, v) =>
    v
      .check(r.pairs.length > 0, 'pairs', 'must hold at least one pair')
      .required('idempotencyKey', r.idempotencyKey),
  getAgreement: (r, v) => v.required('taskId', r.taskId),
  snapshotToDataset: (r, v) =>
    v
      .required('taskId', r.taskId)
      .resourceName('dataset', r.dataset)
      .check(
        r.minAgreement === undefined || (r.minAgreement >= 0.5 && r.minAgreement <= 1),
        'minAgreement',
        'must be in [0.5, 1]',
      )
      .check(r.minJudgements >= 0, 'minJudgements', 'must not be negative')
      .check(r.evalFraction >= 0 && r.evalFraction <= 0.5, 'evalFraction', 'must be in [0, 0.5]'),
  registerEvaluationSet: (r, v) =>
    v
      .required('name', r.name)
      .check(r.name.length <= 128, 'name', 'must be at most 128 characters')
      .check(
        r.prompts.length > 0 || r.datasetVersion !== undefined,
        'prompts',
        'must hold at least one prompt when no datasetVersion is given',
      ),
};

/** What the handlers work with. */
export interface PreferenceDeps {
  readonly db: SqlClient;
  readonly relay: OutboxRelay;
  /** The datasets service, for snapshots; undefined when no address is configured. */
  readonly datasets: DatasetsWriter | undefined;
}

function throwIfAny(checks: FieldChecks): void {
  if (checks.violations.length > 0) throw LatheError.invalidArgument(checks.violations);
}

const DEFAULT_PAGE = 50;
const MAX_PAGE = 500;

function page(request: PageRequest | undefined): { offset: number; limit: number } {
  const limit = Math.min(
    MAX_PAGE,
    request?.pageSize !== undefined && request.pageSize > 0 ? request.pageSize : DEFAULT_PAGE,
  );
  const token = request?.pageToken ?? '';
  if (token === '') return { offset: 0, limit };
  const offset = Number(Buffer.from(token, 'base64url').toString('utf8'));
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw LatheError.invalidArgument(
      [{ field: 'page.pageToken', description: 'is not a token this service issued' }],
      {
        reason: ErrorReason.ERROR_REASON_INVALID_PAGE_TOKEN,
      },
    );
  return { offset, limit };
}

function nextToken(offset: number, count: number, total: number): string {
  return offset + count < total ? Buffer.from(String(offset + count)).toString('base64url') : '';
}

function needDatasets(deps: PreferenceDeps): DatasetsWriter {
  if (deps.datasets !== undefined) return deps.datasets;
  throw LatheError.failedPrecondition(
    'snapshots and imports need the datasets service: set LATHE_PREFERENCES_DATASETS_ADDRESS',
    [
      {
        type: 'CONFIGURATION',
        subject: 'LATHE_PREFERENCES_DATASETS_ADDRESS',
        description: 'not set',
      },
    ],
  );
}

const DEFAULT_LEASE_MS = 30 * 60 * 1000;

/** The rpcs, over the store and the datasets service. */
export function preferenceHandlers(deps: PreferenceDeps): ServiceHandlers<Definition> {
  const { db, relay } = deps;
  return {
    createAnnotator: async (r) => {
      const checks = new FieldChecks();
      checks.short('displayName', r.displayName, true);
      checks.short('email', r.email);
      throwIfAny(checks);
      return { annotator: await createAnnotator(db, r) };
    },
    issueAnnotatorToken: async (r) => {
      const checks = new FieldChecks();
      checks.short('description', r.description);
      const ttlMs = r.ttl === undefined ? undefined : durationMs(r.ttl);
      if (ttlMs !== undefined && ttlMs <= 0) checks.fail('ttl', 'must be positive when set');
      throwIfAny(checks);
      return issueToken(db, {
        annotatorId: r.annotatorId,
        role: r.role,
        ttlMs,
        description: r.description,
      });
    },
    revokeAnnotatorToken: async (r) => ({
      token: await revokeToken(db, r.tokenId, r.reason.slice(0, LIMITS.shortChars)),
    }),
    createTask: async (r) => {
      const checks = new FieldChecks();
      checks.short('displayName', r.displayName, true);
      checks.text('instructions', r.instructions, LIMITS.instructionsChars);
      const leaseMs =
        r.assignmentLease === undefined ? DEFAULT_LEASE_MS : durationMs(r.assignmentLease);
      if (leaseMs < 1000) checks.fail('assignmentLease', 'must be at least one second');
      checkItems(checks, 'items', r.items);
      throwIfAny(checks);
      const settings = { ...r, leaseMs };
      const id = await db.transaction((tx) => createTask(tx, settings, r.items));
      return { task: await getTask(db, id) };
    },
    getTask: async (r) => ({ task: await getTask(db, r.taskId) }),
    listTasks: async (r) => {
      const { offset, limit } = page(r.page);
      const { tasks, total } = await listTasks(db, offset, limit);
      return {
        tasks,
        page: { nextPageToken: nextToken(offset, tasks.length, total), totalSize: total },
      };
    },
    addItems: async (r) => {
      const checks = new FieldChecks();
      checks.short('taskId', r.taskId, true);
      checkItems(checks, 'items', r.items);
      throwIfAny(checks);
      const itemIds = await db.transaction(async (tx) => {
        await loadTask(tx, r.taskId);
        return addItems(tx, r.taskId, r.items);
      });
      return { itemIds };
    },
    getNextAssignment: async (r, context) => {
      const annotatorId = requireAnnotator(callerOf(context));
      const next = await nextAssignment(db, r.taskId, annotatorId);
      return {
        assignment: next.assignment,
        exhausted: next.exhausted,
        retryAfter:
          next.assignment === undefined && !next.exhausted
            ? msDuration(next.retryAfterMs)
            : undefined,
      };
    },
    listAssignments: async (r, context) => {
      const caller = callerOf(context);
      // Annotators see only their own, whatever annotator id they ask for.
      const annotatorId = isReviewer(caller)
        ? r.annotatorId === ''
          ? undefined
          : r.annotatorId
        : requireAnnotator(caller);
      const { offset, limit } = page(r.page);
      await loadTask(db, r.taskId);
      const { assignments, total } = await listAssignments(db, {
        taskId: r.taskId,
        annotatorId,
        state: r.state,
        offset,
        limit,
      });
      return {
        assignments,
        page: { nextPageToken: nextToken(offset, assignments.length, total), totalSize: total },
      };
    },
    submitJudgement: async (r, context) => {
      const caller = callerOf(context);
      if (!isReviewer(caller)) requireAnnotator(caller);
      const checks = new FieldChecks();
      checks.short('idempotencyKey', r.idempotencyKey, true);
      checks.text('rationale', r.rationale, LIMITS.rationaleChars);
      if (durationMs(r.timeSpent) < 0) checks.fail('timeSpent', 'must not be negative');
      throwIfAny(checks);
      return recordJudgement(db, relay, caller, r);
    },
    submitPairs: async (r, context) => {
      const caller = callerOf(context);
      const checks = new FieldChecks();
      checks.short('idempotencyKey', r.idempotencyKey, true);
      if (r.pairs.length > LIMITS.pairs)
        checks.fail(
          'pairs',
          `has ${String(r.pairs.length)} pairs, more than ${String(LIMITS.pairs)}`,
        );
      r.pairs.slice(0, LIMITS.pairs).forEach((p, i) => {
        const at = `pairs[${String(i)}]`;
        checks.messages(`${at}.prompt`, p.prompt, false);
        checks.messages(`${at}.chosen`, p.chosen, false);
        checks.messages(`${at}.rejected`, p.rejected, false);
        checks.short(`${at}.source.detail`, p.source?.detail ?? '');
        checks.metadata(`${at}.metadata`, p.metadata);
      });
      throwIfAny(checks);
      if (r.taskId !== '') await loadTask(db, r.taskId);
      const { response, replayed } = await once(
        db,
        { caller: caller.key, rpc: 'SubmitPairs', key: r.idempotencyKey },
        SubmitPairsRequest.encode(r).finish(),
        SubmitPairsResponse,
        async (tx) => ({
          ...(await recordPairs(tx, { taskId: r.taskId, pairs: r.pairs, submittedBy: caller.key })),
          replayed: false,
        }),
      );
      if (!replayed) relay.kick();
      return { ...response, replayed };
    },
    getAgreement: async (r) => {
      const task = await loadTask(db, r.taskId);
      const verdicts = await taskVerdicts(db, r.taskId);
      return {
        agreement: taskAgreement(r.taskId, task.annotators_per_item, verdicts),
        computeTime: new Date(),
      };
    },
    importItemsFromDataset: async (r) =>
      importItems(db, needDatasets(deps), {
        taskId: r.taskId,
        version: r.datasetVersion ?? { dataset: '', version: 0, manifestSha256: '' },
        split: r.split,
        maxItems: r.maxItems,
        goldFraction: r.goldFraction,
        seed: r.seed,
      }),
    snapshotToDataset: async (r) => {
      const answer = await snapshotTask(db, needDatasets(deps), r);
      relay.kick();
      return answer;
    },
    registerEvaluationSet: async (r) => {
      const checks = new FieldChecks();
      if (r.prompts.length > LIMITS.items)
        checks.fail(
          'prompts',
          `has ${String(r.prompts.length)} prompts, more than ${String(LIMITS.items)}`,
        );
      r.prompts
        .slice(0, LIMITS.items)
        .forEach((p, i) => checks.messages(`prompts[${String(i)}].messages`, p.messages, true));
      throwIfAny(checks);
      return registerEvaluationSet(db, () => needDatasets(deps), {
        name: r.name,
        prompts: r.prompts.map((p) => p.messages),
        version: r.datasetVersion,
        split: r.split,
      });
    },
  };
}

/** The preferences service as the kit runs it, with `handlers` (see {@link preferenceHandlers}). */
export function preferencesDescriptor(
  handlers: ServiceHandlers<Definition>,
): ServiceDescriptor<Definition> {
  return {
    name: PREFERENCES_SERVICE,
    fullName: 'lathe.preferences.v1.PreferenceService',
    protoFile: 'lathe/preferences/v1/preference_service.proto',
    defaultPort: PREFERENCES_DEFAULT_PORT,
    definition: PreferenceServiceService,
    handlers,
    roles: preferenceRoles,
    rules: preferenceRules,
  };
}
