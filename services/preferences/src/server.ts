import { Role } from '@lathe/contracts/lathe/preferences/v1/annotator';
import { PreferenceServiceService } from '@lathe/contracts/lathe/preferences/v1/preference_service';
import type {
  MethodRoles,
  RequestRules,
  ServiceDescriptor,
  ServiceHandlers,
} from '@lathe/service-kit';
import { PREFERENCES_DEFAULT_PORT, PREFERENCES_SERVICE } from './config.js';

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
};

/** Request checks that need no storage. */
export const preferenceRules: RequestRules<Definition> = {
  createAnnotator: (r, v) =>
    v
      .required('displayName', r.displayName)
      .enumSet('maxRole', r.maxRole)
      .check(r.maxRole !== Role.UNRECOGNIZED, 'maxRole', 'must be a known role'),
  createTask: (r, v) =>
    v
      .required('displayName', r.displayName)
      .intInRange('annotatorsPerItem', r.annotatorsPerItem, 1, 100),
  getTask: (r, v) => v.required('taskId', r.taskId),
  addItems: (r, v) =>
    v
      .required('taskId', r.taskId)
      .check(r.items.length > 0, 'items', 'must hold at least one item'),
  getNextAssignment: (r, v) => v.required('taskId', r.taskId),
  submitPairs: (r, v) =>
    v
      .required('taskId', r.taskId)
      .check(r.pairs.length > 0, 'pairs', 'must hold at least one pair'),
  getAgreement: (r, v) => v.required('taskId', r.taskId),
};

/** Implemented rpcs: none yet; every rpc answers UNIMPLEMENTED after its request checks. */
export const preferenceHandlers: ServiceHandlers<Definition> = {};

/** The preferences service as the kit runs it. */
export const preferencesService: ServiceDescriptor<Definition> = {
  name: PREFERENCES_SERVICE,
  fullName: 'lathe.preferences.v1.PreferenceService',
  protoFile: 'lathe/preferences/v1/preference_service.proto',
  defaultPort: PREFERENCES_DEFAULT_PORT,
  definition: PreferenceServiceService,
  handlers: preferenceHandlers,
  roles: preferenceRoles,
  rules: preferenceRules,
};
