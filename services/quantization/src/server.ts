import { QuantizationServiceService } from '@lathe/contracts/lathe/quantization/v1/quantization_service';
import type {
  MethodRoles,
  RequestRules,
  ServiceDescriptor,
  ServiceHandlers,
} from '@lathe/service-kit';
import { QUANTIZATION_DEFAULT_PORT, QUANTIZATION_SERVICE } from './config.js';

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

/** Request checks that need no storage. */
export const quantizationRules: RequestRules<Definition> = {
  quantizeModel: (r, v) => {
    v.modelRef('source', r.source).present('spec', r.spec).resourceName('outputName', r.outputName);
    if (r.spec !== undefined) v.enumSet('spec.scheme', r.spec.scheme);
  },
  getQuantizationJob: (r, v) => v.required('jobId', r.jobId),
  cancelQuantizationJob: (r, v) => v.required('jobId', r.jobId),
  getQualityReport: (r, v) => v.required('jobId', r.jobId),
};

/** Implemented rpcs: none yet; every rpc answers UNIMPLEMENTED after its request checks. */
export const quantizationHandlers: ServiceHandlers<Definition> = {};

/** The quantization service as the kit runs it. */
export const quantizationService: ServiceDescriptor<Definition> = {
  name: QUANTIZATION_SERVICE,
  fullName: 'lathe.quantization.v1.QuantizationService',
  protoFile: 'lathe/quantization/v1/quantization_service.proto',
  defaultPort: QUANTIZATION_DEFAULT_PORT,
  definition: QuantizationServiceService,
  handlers: quantizationHandlers,
  roles: quantizationRoles,
  rules: quantizationRules,
};
