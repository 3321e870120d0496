import { TrainingServiceService } from '@lathe/contracts/lathe/training/v1/training_service';
import type {
  MethodRoles,
  RequestRules,
  ServiceDescriptor,
  ServiceHandlers,
} from '@lathe/service-kit';
import { TRAINING_DEFAULT_PORT, TRAINING_SERVICE } from './config.js';
import { cancelJob, listCheckpoints, listJobs } from './domain/job-listing.js';
import { createJob } from './domain/create-job.js';
import type { TrainingDeps } from './domain/training-deps.js';
import { watchJob } from './domain/watch-job.js';

type Definition = typeof TrainingServiceService;

const READ = ['job-reader', 'job-submitter', 'admin'];
const WRITE = ['job-submitter', 'admin'];

/** Who may call each rpc: readers watch and list, submitters create and cancel jobs. */
export const trainingRoles: MethodRoles<Definition> = {
  createJob: WRITE,
  getJob: READ,
  listJobs: READ,
  cancelJob: WRITE,
  watchJob: READ,
  listCheckpoints: READ,
  listJobAttempts: READ,
};

/** Request checks that need no storage; CreateJob's whole spec is checked by its handler. */
export const trainingRules: RequestRules<Definition> = {
  createJob: (r, v) => {
    v.present('spec', r.spec);
    if (r.spec !== undefined) {
      v.enumSet('spec.method', r.spec.method)
        .modelRef('spec.baseModel', r.spec.baseModel)
        .present('spec.dataset', r.spec.dataset);
    }
  },
  getJob: (r, v) => v.required('jobId', r.jobId),
  cancelJob: (r, v) => v.required('jobId', r.jobId),
  watchJob: (r, v) =>
    v
      .required('jobId', r.jobId)
      .check(r.afterSequence >= 0, 'afterSequence', 'must not be negative'),
  listCheckpoints: (r, v) => v.required('jobId', r.jobId),
  listJobAttempts: (r, v) => v.required('jobId', r.jobId),
};

/** The rpcs: protobuf in and out; the logic lives in `domain/`. */
export function trainingHandlers(deps: TrainingDeps): ServiceHandlers<Definition> {
  return {
    createJob: async (r, ctx) => ({
      job: await createJob(deps, r, ctx.principal?.subject ?? ''),
    }),
    getJob: async (r) => ({ job: await deps.store.requireJob(r.jobId) }),
    listJobs: (r) => listJobs(deps, r),
    cancelJob: async (r) => ({ job: await cancelJob(deps, r) }),
    watchJob: async function* (r, ctx) {
      for await (const event of watchJob(deps, r, ctx.signal)) yield { event };
    },
    listCheckpoints: (r) => listCheckpoints(deps, r),
    listJobAttempts: async (r) => {
      await deps.store.requireJob(r.jobId);
      return { attempts: await deps.store.listAttempts(r.jobId) };
    },
  };
}

/** The training service as the kit runs it, over `deps`. */
export function createTrainingService(deps: TrainingDeps): ServiceDescriptor<Definition> {
  return {
    name: TRAINING_SERVICE,
    fullName: 'lathe.training.v1.TrainingService',
    protoFile: 'lathe/training/v1/training_service.proto',
    defaultPort: TRAINING_DEFAULT_PORT,
    definition: TrainingServiceService,
    handlers: trainingHandlers(deps),
    roles: trainingRoles,
    rules: trainingRules,
  };
}
