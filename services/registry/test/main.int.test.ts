import { fileURLToPath } from 'node:url';
import {
  RegistryServiceService,
  SetAliasRequest,
} from '@lathe/contracts/lathe/registry/v1/registry_service';
import { describeServiceProcess } from '@lathe/service-kit/testing';

describeServiceProcess({
  entry: fileURLToPath(new URL('../src/main.ts', import.meta.url)),
  service: 'registry',
  fullName: 'lathe.registry.v1.RegistryService',
  definition: RegistryServiceService,
  role: 'model-editor',
  method: 'SetAlias',
  malformed: (c) =>
    c.setAlias(SetAliasRequest.fromPartial({ name: 'llama', alias: 'Prod!', version: 0 })),
  malformedFields: ['alias', 'version'],
  valid: (c) =>
    c.setAlias(SetAliasRequest.fromPartial({ name: 'llama', alias: 'prod', version: 2 })),
});
