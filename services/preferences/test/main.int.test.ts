import { fileURLToPath } from 'node:url';
import {
  ImportItemsFromDatasetRequest,
  PreferenceServiceService,
} from '@lathe/contracts/lathe/preferences/v1/preference_service';
import { describeServiceProcess } from '@lathe/service-kit/testing';

// The kit's process suite on the real entry point (embedded store and bus: no env for them).
// Its "valid request answers UNIMPLEMENTED" check uses ImportItemsFromDataset, the rpc not built yet.
describeServiceProcess({
  entry: fileURLToPath(new URL('../src/main.ts', import.meta.url)),
  service: 'preferences',
  fullName: 'lathe.preferences.v1.PreferenceService',
  definition: PreferenceServiceService,
  role: 'admin',
  method: 'ImportItemsFromDataset',
  malformed: (c) => c.importItemsFromDataset(ImportItemsFromDatasetRequest.fromPartial({})),
  malformedFields: ['taskId', 'datasetVersion'],
  valid: (c) =>
    c.importItemsFromDataset(
      ImportItemsFromDatasetRequest.fromPartial({
        taskId: 'task_x',
        datasetVersion: { dataset: 'd', version: 1 },
      }),
    ),
});
