import { status } from '@grpc/grpc-js';
import type { Metadata as GrpcMetadata } from '@grpc/grpc-js';
import { Metadata } from '@grpc/grpc-js';
import { DatasetKind, RecordFormat } from '@lathe/contracts/lathe/datasets/v1/dataset';
import { DatasetServiceService } from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import type {
  ReadRecordsResponse,
  UploadRecordsRequest,
  UploadRecordsResponse,
} from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import type { Record as DatasetRecord } from '@lathe/contracts/lathe/datasets/v1/record';
import type { DatasetSplit, DatasetVersionRef } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import type { DatasetVersion } from '@lathe/contracts/lathe/datasets/v1/dataset_version';
import { createClient, fromServiceError, isLatheError, LatheError } from '@lathe/service-kit';
import type { LatheClient } from '@lathe/service-kit';

/** What a snapshot needs from the datasets service. */
export interface DatasetsWriter {
  /**
   * Writes `jsonl` (preference_pairs lines) as a new version of the preference dataset
   * `dataset` (created when absent), split with `evalFraction` and `seed`.
   */
  writePreferenceVersion(input: {
    dataset: string;
    jsonl: Buffer;
    sourceName: string;
    description: string;
    evalFraction: number;
    seed: number;
    idempotencyKey: string;
  }): Promise<{ version: DatasetVersion; uploadId: string; rejected: number }>;
  /** Every record of a version (one split, or all for UNSPECIFIED), in index order, at most `limit`. */
  readRecords(
    version: DatasetVersionRef,
    split: DatasetSplit,
    limit: number,
  ): Promise<DatasetRecord[]>;
  close(): void;
}

const DEADLINE_MS = 60_000;

/** A client of the datasets service at `address`, authenticated with `token` (a dataset-editor JWT). */
export function datasetsWriter(address: string, token: string | undefined): DatasetsWriter {
  const client: LatheClient<typeof DatasetServiceService> = createClient(
    DatasetServiceService,
    address,
    {
      ...(token === undefined ? {} : { token }),
      idempotent: [],
      deadlineMs: DEADLINE_MS,
    },
  );
  const upload = (messages: UploadRecordsRequest[]): Promise<UploadRecordsResponse> =>
    new Promise((resolve, reject) => {
      const md: GrpcMetadata = new Metadata();
      if (token !== undefined) md.set('authorization', `Bearer ${token}`);
      const def = DatasetServiceService.uploadRecords;
      const call = client.channel.makeClientStreamRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        md,
        { deadline: Date.now() + DEADLINE_MS },
        (error, response) => {
          if (error !== null) reject(fromServiceError(error));
          else if (response === undefined)
            reject(new Error('datasets UploadRecords answered nothing'));
          else resolve(response);
        },
      );
      for (const m of messages) call.write(m);
      call.end();
    });
  return {
    writePreferenceVersion: async (input) => {
      try {
        await client.createDataset({
          name: input.dataset,
          kind: DatasetKind.DATASET_KIND_PREFERENCE,
          description: 'preference pairs from annotation tasks',
          labels: { source: 'lathe-preferences' },
        });
      } catch (error) {
        if (!(isLatheError(error) && error.code === status.ALREADY_EXISTS)) throw error;
      }
      const chunks: UploadRecordsRequest[] = [
        {
          message: {
            $case: 'header',
            header: {
              dataset: input.dataset,
              format: RecordFormat.RECORD_FORMAT_PREFERENCE_PAIRS,
              sourceName: input.sourceName,
              maxReportedRejections: 10,
              sha256: '',
            },
          },
        },
      ];
      for (let at = 0; at < input.jsonl.length; at += 1024 * 1024)
        chunks.push({
          message: { $case: 'chunk', chunk: input.jsonl.subarray(at, at + 1024 * 1024) },
        });
      const uploaded = await upload(chunks);
      const uploadId = uploaded.upload?.id ?? '';
      const curated = await client.curateDataset({
        dataset: input.dataset,
        uploadIds: [uploadId],
        baseVersion: 0,
        spec: {
          dedupeExact: false,
          nearDuplicates: undefined,
          dropEmptyTurns: false,
          tokenLength: undefined,
          junk: undefined,
          pii: undefined,
          split: { evalFraction: input.evalFraction, seed: input.seed },
        },
        description: input.description,
        idempotencyKey: input.idempotencyKey,
      });
      if (curated.version === undefined)
        throw LatheError.internal(new Error('datasets CurateDataset answered no version'));
      return { version: curated.version, uploadId, rejected: uploaded.upload?.rejectedCount ?? 0 };
    },
    readRecords: (version, split, limit) =>
      new Promise((resolve, reject) => {
        const md: GrpcMetadata = new Metadata();
        if (token !== undefined) md.set('authorization', `Bearer ${token}`);
        const def = DatasetServiceService.readRecords;
        const call = client.channel.makeServerStreamRequest(
          def.path,
          def.requestSerialize,
          def.responseDeserialize,
          { version, split, offset: 0, pageToken: '', limit, batchSize: 0 },
          md,
          { deadline: Date.now() + DEADLINE_MS },
        );
        const records: DatasetRecord[] = [];
        call.on('data', (batch: ReadRecordsResponse) => records.push(...batch.records));
        call.on('error', (error: Parameters<typeof fromServiceError>[0]) =>
          reject(fromServiceError(error)),
        );
        call.on('end', () => resolve(records));
      }),
    close: () => client.close(),
  };
}
