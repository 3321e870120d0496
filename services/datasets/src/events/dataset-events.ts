import { defineEvent } from '@lathe/bus';
import {
  CurationFailed,
  DatasetVersionCreated,
  RecordsUploaded,
} from '@lathe/contracts/lathe/datasets/v1/events';

/** `lathe.datasets.records_uploaded`: records were staged into a dataset. */
export const recordsUploadedEvent = defineEvent('datasets', 'records_uploaded', RecordsUploaded);

/** `lathe.datasets.dataset_version_created`: a new immutable version exists. */
export const versionCreatedEvent = defineEvent(
  'datasets',
  'dataset_version_created',
  DatasetVersionCreated,
);

/** `lathe.datasets.curation_failed`: a CurateDataset call produced no version. */
export const curationFailedEvent = defineEvent('datasets', 'curation_failed', CurationFailed);

/** Every event the service publishes, declared at start so a bad stream fails start-up. */
export const datasetEvents = [recordsUploadedEvent, versionCreatedEvent, curationFailedEvent];
