import { QuantizationJobState } from '@lathe/contracts/lathe/quantization/v1/quantization_job';
import { QuantizationServiceService } from '@lathe/contracts/lathe/quantization/v1/quantization_service';
import type {
  MethodRoles,
  RequestRules,
  ServiceDescriptor,
  ServiceHandlers,
} from '@lathe/service-kit';
import { injectTraceHeaders } from '@lathe/telemetry';
import type { QuantizationJobs } from './app/quantization-jobs.js';
import { QUANTIZATION_DEFAULT_PORT, QUANTIZATION_SERVICE } from './config.js';
import { specViolations } from './domain/quant-spec.js';
import { jobOut, listPage } from './wire.js';

type Definition = typeof QuantizationServiceService;

const READ = ['model-reader', 'model-editor', 'admin'];
const WRITE = ['model-editor', 'admin'];

/** Who may call each rpc: readers inspect jobs and reports, editors start and cancel them. */
export const quantizationRoles: MethodRoles<Definition> = {
  quantizeModel: WRITE,
  getQuantizationJob: READ,
  listQuantizationJobs: READ,
  cancelQuantizationJob: WRITE,
  getQualityReport: READ,
};

const KNOWN_STATES = new Set<number>([
  QuantizationJobState.QUANTIZATION_JOB_STATE_QUEUED,
  QuantizationJobState.QUANTIZATION_JOB_STATE_RUNNING,
  QuantizationJobState.QUANTIZATION_JOB_STATE_SUCCEEDED,
  QuantizationJobState.QUANTIZATION_JOB_STATE_FAILED,
  QuantizationJobState.QUANTIZATION_JOB_STATE_CANCELLED,
]);

/** Request checks that need no storage: every bad field of a request in one INVALID_ARGUMENT. */
export const quantizationRules: RequestRules<Definition> = {
  quantizeModel: (r, v) => {
    v.modelRef('source', r.source).present('spec', r.spec);
    if (r.source !== undefined)
      v.check(r.source.selector !== undefined, 'source', 'must name a version or an alias');
    if (r.outputName !== '') v.resourceName('outputName', r.outputName);
    if (r.spec !== undefined) {
      v.enumSet('spec.scheme', r.spec.scheme);
      for (const f of specViolations(r.spec)) v.check(false, f.field, f.description);
    }
  },
  getQuantizationJob: (r, v) => v.required('jobId', r.jobId),
  listQuantizationJobs: (r, v) =>
    v
      .check(
        r.states.every((s) => KNOWN_STATES.has(s)),
        'states',
        'must list known states (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)',
      )
      .check((r.page?.pageSize ?? 0) >= 0, 'page.pageSize', 'must not be negative'),
  cancelQuantizationJob: (r, v) => v.required('jobId', r.jobId),
  getQualityReport: (r, v) => v.required('jobId', r.jobId),
};

/** The handlers over `jobs`: protobuf in and out, nothing else. */
export function quantizationHandlers(jobs: QuantizationJobs): ServiceHandlers<Definition> {
  return {
    quantizeModel: async (r) => {
      const { job, cached } = await jobs.submit({
        // The rules checked both are present.
        source: r.source!,
        spec: r.spec!,
        outputName: r.outputName,
        idempotencyKey: r.idempotencyKey,
        traceHeaders: injectTraceHeaders(),
      });
      return { job: jobOut(job), cached };
    },
    getQuantizationJob: async (r) => ({ job: jobOut(await jobs.get(r.jobId)) }),
    listQuantizationJobs: async (r) => {
      const { items, page } = await listPage(jobs, r);
      return { jobs: items.map(jobOut), page };
    },
    cancelQuantizationJob: async (r) => ({ job: jobOut(await jobs.cancel(r.jobId)) }),
    getQualityReport: async (r) => ({ report: await jobs.report(r.jobId) }),
  };
}

/** The quantization service as the kit runs it, over a started {@link QuantizationJobs}. */
export function quantizationService(jobs: QuantizationJobs): ServiceDescriptor<Definition> {
  return {
    name: QUANTIZATION_SERVICE,
    fullName: 'lathe.quantization.v1.QuantizationService',
    protoFile: 'lathe/quantization/v1/quantization_service.proto',
    defaultPort: QUANTIZATION_DEFAULT_PORT,
    definition: QuantizationServiceService,
    handlers: quantizationHandlers(jobs),
    roles: quantizationRoles,
    rules: quantizationRules,
  };
}
