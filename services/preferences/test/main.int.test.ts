import { fileURLToPath } from 'node:url';
import {
  CreateTaskRequest,
  PreferenceServiceService,
} from '@lathe/contracts/lathe/preferences/v1/preference_service';
import { describeServiceProcess } from '@lathe/service-kit/testing';

describeServiceProcess({
  entry: fileURLToPath(new URL('../src/main.ts', import.meta.url)),
  service: 'preferences',
  fullName: 'lathe.preferences.v1.PreferenceService',
  definition: PreferenceServiceService,
  role: 'admin',
  method: 'CreateTask',
  malformed: (c) =>
    c.createTask(CreateTaskRequest.fromPartial({ displayName: '', annotatorsPerItem: 0 })),
  malformedFields: ['displayName', 'annotatorsPerItem'],
  valid: (c) =>
    c.createTask(
      CreateTaskRequest.fromPartial({ displayName: 'helpfulness', annotatorsPerItem: 3 }),
    ),
});
