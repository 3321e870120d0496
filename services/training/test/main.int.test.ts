// The training service's real entry point as a process over real gRPC: the kit's process checks
// (health, field violations, tokens, roles, configuration, SIGTERM) with GetJob, which on the
// empty embedded store answers NOT_FOUND (every rpc is built).
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { TrainingServiceService } from '@lathe/contracts/lathe/training/v1/training_service';
import { describeServiceProcess } from '@lathe/service-kit/testing';

describeServiceProcess({
  entry: fileURLToPath(new URL('../src/main.ts', import.meta.url)),
  service: 'training',
  fullName: 'lathe.training.v1.TrainingService',
  definition: TrainingServiceService,
  role: 'job-reader',
  method: 'GetJob',
  malformed: (c) => c.getJob({ jobId: '' }),
  malformedFields: ['jobId'],
  valid: (c) => c.getJob({ jobId: 'absent' }),
  validCode: status.NOT_FOUND,
  env: { LATHE_TRAINING_DATABASE_URL: 'pglite:memory' },
});
