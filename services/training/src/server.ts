import { TrainingServiceService } from '@lathe/contracts/lathe/training/v1/training_service';
import type {
  MethodRoles,
  RequestRules,
  ServiceDescriptor,
  ServiceHandlers,
} from '@lathe/service-kit';
import { TRAINING_DEFAULT_PORT, TRAINING_SERVICE } from './config.js';

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

/** Request checks that need no storage (the full spec check lands with job creation). */
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

/** Implemented rpcs: none yet; every rpc answers UNIMPLEMENTED after its request checks. */
export const trainingHandlers: ServiceHandlers<Definition> = {};

/** The training service as the kit runs it. */
export const trainingService: ServiceDescriptor<Definition> = {
  name: TRAINING_SERVICE,
  fullName: 'lathe.training.v1.TrainingService',
  protoFile: 'lathe/training/v1/training_service.proto',
  defaultPort: TRAINING_DEFAULT_PORT,
  definition: TrainingServiceService,
  handlers: trainingHandlers,
  roles: trainingRoles,
  rules: trainingRules,
};
