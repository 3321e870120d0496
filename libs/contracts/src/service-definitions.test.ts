// The method paths and streaming shapes below are the contract other packages code against
// (and that non-TypeScript clients call). They are written out by hand on purpose: a rename in a
// proto must fail here, not silently in a caller.
import { describe, expect, it } from 'vitest';
import type { LatheServiceName } from './index.js';
import { latheServices } from './index.js';

type Shape = 'unary' | 'client-stream' | 'server-stream' | 'bidi';

const expected: Record<LatheServiceName, Record<string, Shape>> = {
  'lathe.datasets.v1.DatasetService': {
    CreateDataset: 'unary',
    GetDataset: 'unary',
    ListDatasets: 'unary',
    UploadRecords: 'client-stream',
    ImportFromArtifact: 'unary',
    CurateDataset: 'unary',
    GetDatasetVersion: 'unary',
    ListDatasetVersions: 'unary',
    GetDatasetStats: 'unary',
    ReadRecords: 'server-stream',
    ExportDatasetVersion: 'server-stream',
    ListRemovedRecords: 'unary',
  },
  'lathe.preferences.v1.PreferenceService': {
    CreateAnnotator: 'unary',
    IssueAnnotatorToken: 'unary',
    RevokeAnnotatorToken: 'unary',
    CreateTask: 'unary',
    GetTask: 'unary',
    ListTasks: 'unary',
    AddItems: 'unary',
    ImportItemsFromDataset: 'unary',
    GetNextAssignment: 'unary',
    ListAssignments: 'unary',
    SubmitJudgement: 'unary',
    SubmitPairs: 'unary',
    GetAgreement: 'unary',
    SnapshotToDataset: 'unary',
    RegisterEvaluationSet: 'unary',
  },
  'lathe.quantization.v1.QuantizationService': {
    QuantizeModel: 'unary',
    GetQuantizationJob: 'unary',
    ListQuantizationJobs: 'unary',
    CancelQuantizationJob: 'unary',
    GetQualityReport: 'unary',
  },
  'lathe.training.v1.TrainingService': {
    CreateJob: 'unary',
    GetJob: 'unary',
    ListJobs: 'unary',
    CancelJob: 'unary',
    WatchJob: 'server-stream',
    ListCheckpoints: 'unary',
    ListJobAttempts: 'unary',
  },
  'lathe.registry.v1.RegistryService': {
    ImportModel: 'client-stream',
    ImportModelFromPath: 'unary',
    RegisterAdapter: 'unary',
    RegisterFineTunedModel: 'unary',
    RegisterQuantizedModel: 'unary',
    RegisterMergedModel: 'unary',
    MergeAdapter: 'unary',
    GetModelVersion: 'unary',
    ListModels: 'unary',
    ListModelVersions: 'unary',
    SetAlias: 'unary',
    GetAliasHistory: 'unary',
    GetLineage: 'unary',
    DownloadModel: 'server-stream',
    DeleteModelVersion: 'unary',
  },
};

function shapeOf(method: { requestStream: boolean; responseStream: boolean }): Shape {
  if (method.requestStream) return method.responseStream ? 'bidi' : 'client-stream';
  return method.responseStream ? 'server-stream' : 'unary';
}

describe('latheServices', () => {
  it('lists exactly the five services', () => {
    expect(Object.keys(latheServices).sort()).toEqual(Object.keys(expected).sort());
  });

  for (const [serviceName, methods] of Object.entries(expected)) {
    it(`${serviceName} exposes exactly the expected paths and streaming shapes`, () => {
      const definition = latheServices[serviceName as LatheServiceName];
      const actual: Record<string, Shape> = {};
      for (const method of Object.values(definition)) {
        actual[method.path] = shapeOf(method);
      }
      const wanted = Object.fromEntries(
        Object.entries(methods).map(([rpc, shape]) => [`/${serviceName}/${rpc}`, shape]),
      );
      expect(actual).toEqual(wanted);
    });
  }
});
