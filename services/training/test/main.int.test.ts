// The training service's real entry point as a process over real gRPC: the kit's process checks
// (health, field violations, tokens, roles, configuration, SIGTERM) with GetJob, which on an empty
// store answers NOT_FOUND (every rpc is built). The store is a fresh PostgreSQL database rather
// than PGlite, whose start-up alone can pass the kit's 20 s start limit on a loaded machine.
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { TrainingServiceService } from '@lathe/contracts/lathe/training/v1/training_service';
import { describeServiceProcess } from '@lathe/service-kit/testing';
import { createTestDatabase } from '@lathe/testkit';
import { afterAll } from 'vitest';

const db = await createTestDatabase();
afterAll(async () => {
  await db.close();
});

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
  env: { LATHE_TRAINING_DATABASE_URL: db.url },
});
