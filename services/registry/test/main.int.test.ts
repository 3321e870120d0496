import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import {
  GetLineageRequest,
  RegistryServiceService,
} from '@lathe/contracts/lathe/registry/v1/registry_service';
import { describeServiceProcess } from '@lathe/service-kit/testing';

// Every rpc is built, so the kit's suite checks GetLineage answering NOT_FOUND for a version the
// empty embedded store does not hold (instead of UNIMPLEMENTED).
describeServiceProcess({
  entry: fileURLToPath(new URL('../src/main.ts', import.meta.url)),
  service: 'registry',
  fullName: 'lathe.registry.v1.RegistryService',
  definition: RegistryServiceService,
  role: 'model-reader',
  method: 'GetLineage',
  malformed: (c) =>
    c.getLineage(
      GetLineageRequest.fromPartial({
        ref: { name: 'Llama!', selector: { $case: 'version', version: 1 } },
        maxDepth: -1,
      }),
    ),
  malformedFields: ['ref.name', 'maxDepth'],
  valid: (c) =>
    c.getLineage(
      GetLineageRequest.fromPartial({
        ref: { name: 'llama', selector: { $case: 'version', version: 1 } },
      }),
    ),
  validCode: status.NOT_FOUND,
});
