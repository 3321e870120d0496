// Streaming calls of the datasets service (the kit's client covers unary rpcs): for the CLI, tools and tests.
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { credentials, Metadata } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { DatasetServiceClient } from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import type {
  ExportDatasetVersionRequest,
  ExportDatasetVersionResponse,
  ReadRecordsRequest,
  ReadRecordsResponse,
  UploadHeader,
  UploadRecordsResponse,
} from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import { fromServiceError } from '@lathe/service-kit';

/** A raw grpc-js client of the service, with a bearer token on every call. */
export class DatasetsStreamClient {
  private readonly client: DatasetServiceClient;
  private readonly metadata = new Metadata();

  constructor(address: string, token: string | undefined) {
    this.client = new DatasetServiceClient(address, credentials.createInsecure());
    if (token !== undefined) this.metadata.set('authorization', `Bearer ${token}`);
  }

  /** Uploads `body` in chunks of `chunkBytes` after `header`. */
  upload(
    header: Partial<UploadHeader>,
    body: Uint8Array,
    chunkBytes = 64 * 1024,
  ): Promise<UploadRecordsResponse> {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < body.length; i += chunkBytes) chunks.push(body.subarray(i, i + chunkBytes));
    return this.uploadStream(header, Readable.from(chunks, { objectMode: true }));
  }

  /** Uploads chunks as they come from `chunks`, waiting whenever the call's buffer is full. */
  uploadStream(
    header: Partial<UploadHeader>,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<UploadRecordsResponse> {
    return new Promise((resolve, reject) => {
      const call = this.client.uploadRecords(
        this.metadata,
        (error: ServiceError | null, response?: UploadRecordsResponse) => {
          if (error !== null) reject(fromServiceError(error));
          else if (response === undefined) reject(new Error('UploadRecords answered nothing'));
          else resolve(response);
        },
      );
      const send = async (): Promise<void> => {
        call.write({
          message: {
            $case: 'header',
            header: {
              dataset: '',
              format: 0,
              sourceName: '',
              maxReportedRejections: 0,
              sha256: '',
              ...header,
            },
          },
        });
        for await (const chunk of chunks)
          if (!call.write({ message: { $case: 'chunk', chunk: Buffer.from(chunk) } }))
            await once(call, 'drain');
        call.end();
      };
      send().catch((error: unknown) => {
        call.cancel();
        reject(error instanceof Error ? error : new Error(String(error)));
      });
    });
  }

  /** Every batch of a ReadRecords stream. */
  async readRecords(request: Partial<ReadRecordsRequest>): Promise<ReadRecordsResponse[]> {
    const stream = this.client.readRecords(
      {
        version: undefined,
        split: 0,
        offset: 0,
        pageToken: '',
        limit: 0,
        batchSize: 0,
        ...request,
      },
      this.metadata,
    );
    const out: ReadRecordsResponse[] = [];
    try {
      for await (const batch of stream) out.push(batch as ReadRecordsResponse);
    } catch (error) {
      throw fromServiceError(error as ServiceError);
    }
    return out;
  }

  /** Every message of an ExportDatasetVersion stream: the header, then the chunks. */
  async exportVersion(
    request: Partial<ExportDatasetVersionRequest>,
  ): Promise<ExportDatasetVersionResponse[]> {
    const stream = this.client.exportDatasetVersion(
      { version: undefined, split: 0, format: 0, ...request },
      this.metadata,
    );
    const out: ExportDatasetVersionResponse[] = [];
    try {
      for await (const message of stream) out.push(message as ExportDatasetVersionResponse);
    } catch (error) {
      throw fromServiceError(error as ServiceError);
    }
    return out;
  }

  /** Closes the channel. */
  close(): void {
    this.client.close();
  }
}
