import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { QuantizationServiceService } from '@lathe/contracts/lathe/quantization/v1/quantization_service';
import { describeServiceProcess } from '@lathe/service-kit/testing';
import { createTestDatabase } from '@lathe/testkit';
import { afterAll } from 'vitest';

// A real PostgreSQL database rather than the PGlite default: it starts in well under the kit's
// 20 s start-up limit on a loaded machine, where PGlite alone can take 10 s.
const db = await createTestDatabase();
afterAll(() => db.close());

// The kit's process checks on the real entry point (in-process events). Every rpc is built, so the well-formed GetQuantizationJob answers
// NOT_FOUND on the empty store instead of UNIMPLEMENTED.
describeServiceProcess({
  entry: fileURLToPath(new URL('../src/main.ts', import.meta.url)),
  service: 'quantization',
  fullName: 'lathe.quantization.v1.QuantizationService',
  definition: QuantizationServiceService,
  role: 'model-reader',
  method: 'GetQuantizationJob',
  malformed: (c) => c.getQuantizationJob({ jobId: '' }),
  malformedFields: ['jobId'],
  valid: (c) => c.getQuantizationJob({ jobId: 'absent' }),
  validCode: status.NOT_FOUND,
  env: { LATHE_QUANTIZATION_DATABASE_URL: db.url },
});
