import { fileURLToPath } from 'node:url';
import { DatasetKind } from '@lathe/contracts/lathe/datasets/v1/dataset';
import {
  CreateDatasetRequest,
  DatasetServiceService,
} from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import { describeServiceProcess } from '@lathe/service-kit/testing';

describeServiceProcess({
  entry: fileURLToPath(new URL('../src/main.ts', import.meta.url)),
  service: 'datasets',
  fullName: 'lathe.datasets.v1.DatasetService',
  definition: DatasetServiceService,
  role: 'dataset-editor',
  method: 'CreateDataset',
  // An empty name and no kind: both are reported at once.
  malformed: (c) => c.createDataset(CreateDatasetRequest.fromPartial({ name: '' })),
  malformedFields: ['name', 'kind'],
  valid: (c) =>
    c.createDataset(
      CreateDatasetRequest.fromPartial({
        name: 'support-chats',
        kind: DatasetKind.DATASET_KIND_SFT,
      }),
    ),
});
