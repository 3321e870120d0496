import { fileURLToPath } from 'node:url';
import { Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import {
  CreateJobRequest,
  TrainingServiceService,
} from '@lathe/contracts/lathe/training/v1/training_service';
import { describeServiceProcess } from '@lathe/service-kit/testing';

describeServiceProcess({
  entry: fileURLToPath(new URL('../src/main.ts', import.meta.url)),
  service: 'training',
  fullName: 'lathe.training.v1.TrainingService',
  definition: TrainingServiceService,
  role: 'job-submitter',
  method: 'CreateJob',
  malformed: (c) =>
    c.createJob(CreateJobRequest.fromPartial({ spec: { method: Method.METHOD_UNSPECIFIED } })),
  malformedFields: ['spec.method', 'spec.baseModel', 'spec.dataset'],
  valid: (c) =>
    c.createJob(
      CreateJobRequest.fromPartial({
        spec: {
          method: Method.METHOD_LORA,
          baseModel: { name: 'stories' },
          dataset: { dataset: 'support', version: 1 },
        },
      }),
    ),
});
