// The generated grpc-js definitions and clients, exercised over a real loopback HTTP/2
// connection: one client-streaming, two server-streaming rpcs, and an error whose
// google.rpc.Status travels in the `grpc-status-details-bin` trailer. The handlers are small
// stand-ins written for this test; what is under test is the generated plumbing between them.
import { createHash } from 'node:crypto';
import { Metadata, Server, ServerCredentials, credentials, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorInfo } from './gen/google/rpc/error_details.js';
import { Status } from './gen/google/rpc/status.js';
import type {
  DatasetServiceServer,
  UploadRecordsRequest,
} from './gen/lathe/datasets/v1/dataset_service.js';
import {
  DatasetServiceClient,
  DatasetServiceService,
  UploadRecordsResponse,
} from './gen/lathe/datasets/v1/dataset_service.js';
import type { RegistryServiceServer } from './gen/lathe/registry/v1/registry_service.js';
import {
  RegistryServiceClient,
  RegistryServiceService,
  type DownloadModelResponse,
} from './gen/lathe/registry/v1/registry_service.js';
import type { TrainingServiceServer } from './gen/lathe/training/v1/training_service.js';
import {
  TrainingServiceClient,
  TrainingServiceService,
  type WatchJobResponse,
} from './gen/lathe/training/v1/training_service.js';

const datasets: Pick<DatasetServiceServer, 'uploadRecords' | 'getDataset'> = {
  uploadRecords(call, callback) {
    let dataset = '';
    const chunks: Buffer[] = [];
    call.on('data', (request: UploadRecordsRequest) => {
      if (request.message?.$case === 'header') dataset = request.message.header.dataset;
      if (request.message?.$case === 'chunk') chunks.push(request.message.chunk);
    });
    call.on('end', () => {
      const body = Buffer.concat(chunks);
      const lines = body
        .toString('utf8')
        .split('\n')
        .filter((line) => line.length > 0);
      callback(
        null,
        UploadRecordsResponse.fromPartial({
          upload: {
            dataset,
            acceptedCount: lines.length,
            raw: {
              sha256: createHash('sha256').update(body).digest('hex'),
              sizeBytes: body.length,
            },
          },
        }),
      );
    });
  },
  getDataset(call, callback) {
    const details = Status.encode({
      code: status.NOT_FOUND,
      message: `dataset "${call.request.name}" not found`,
      details: [
        {
          typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo',
          value: Buffer.from(
            ErrorInfo.encode({
              reason: 'DATASET_NOT_FOUND',
              domain: 'lathe.datasets',
              metadata: { dataset: call.request.name },
            }).finish(),
          ),
        },
      ],
    }).finish();
    const metadata = new Metadata();
    metadata.set('grpc-status-details-bin', Buffer.from(details));
    callback({
      code: status.NOT_FOUND,
      details: `dataset "${call.request.name}" not found`,
      metadata,
    });
  },
};

const training: Pick<TrainingServiceServer, 'watchJob'> = {
  watchJob(call) {
    for (let sequence = call.request.afterSequence + 1; sequence <= 3; sequence++) {
      call.write({
        event: {
          sequence,
          jobId: call.request.jobId,
          attempt: 1,
          occurredAt: new Date(0),
          event: undefined,
        },
      });
    }
    call.end();
  },
};

const registry: Pick<RegistryServiceServer, 'downloadModel'> = {
  downloadModel(call) {
    const bytes = Buffer.from('0123456789');
    const offset = call.request.resumeOffset;
    call.write({
      message: {
        $case: 'file',
        file: {
          path: 'config.json',
          sizeBytes: bytes.length,
          sha256: createHash('sha256').update(bytes).digest('hex'),
          offset,
        },
      },
    });
    for (let start = offset; start < bytes.length; start += 4) {
      call.write({ message: { $case: 'chunk', chunk: bytes.subarray(start, start + 4) } });
    }
    call.end();
  },
};

let server: Server;
let address: string;

beforeAll(async () => {
  server = new Server();
  server.addService(DatasetServiceService, datasets);
  server.addService(TrainingServiceService, training);
  server.addService(RegistryServiceService, registry);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  address = `127.0.0.1:${port}`;
});

afterAll(() => {
  server.forceShutdown();
});

describe('generated grpc-js plumbing', () => {
  it('UploadRecords streams a header and chunks to the server', async () => {
    const client = new DatasetServiceClient(address, credentials.createInsecure());
    const body = Buffer.from('{"text":"a"}\n{"text":"b"}\n{"text":"c"}\n');
    const response = await new Promise<UploadRecordsResponse>((resolve, reject) => {
      const stream = client.uploadRecords((error, result) =>
        error ? reject(error) : resolve(result),
      );
      stream.write({
        message: {
          $case: 'header',
          header: {
            dataset: 'support',
            format: 1,
            sourceName: '',
            maxReportedRejections: 0,
            sha256: '',
          },
        },
      });
      for (let start = 0; start < body.length; start += 7) {
        stream.write({ message: { $case: 'chunk', chunk: body.subarray(start, start + 7) } });
      }
      stream.end();
    });
    client.close();
    expect(response.upload?.dataset).toBe('support');
    expect(response.upload?.acceptedCount).toBe(3);
    expect(response.upload?.raw?.sha256).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('WatchJob streams events after the requested sequence', async () => {
    const client = new TrainingServiceClient(address, credentials.createInsecure());
    const events: WatchJobResponse[] = [];
    await new Promise<void>((resolve, reject) => {
      const stream = client.watchJob({ jobId: 'job-1', afterSequence: 1, skipPastProgress: false });
      stream.on('data', (message: WatchJobResponse) => events.push(message));
      stream.on('error', reject);
      stream.on('end', () => resolve());
    });
    client.close();
    expect(events.map((message) => message.event?.sequence)).toEqual([2, 3]);
    expect(events[0]?.event?.occurredAt).toEqual(new Date(0));
  });

  it('DownloadModel resumes a file from a byte offset', async () => {
    const client = new RegistryServiceClient(address, credentials.createInsecure());
    const messages: DownloadModelResponse[] = [];
    await new Promise<void>((resolve, reject) => {
      const stream = client.downloadModel({
        ref: { name: 'm', selector: { $case: 'version', version: 1 } },
        paths: [],
        resumePath: 'config.json',
        resumeOffset: 6,
        chunkSize: 0,
      });
      stream.on('data', (message: DownloadModelResponse) => messages.push(message));
      stream.on('error', reject);
      stream.on('end', () => resolve());
    });
    client.close();
    const [first, ...rest] = messages;
    expect(first?.message?.$case === 'file' ? first.message.file.offset : -1).toBe(6);
    const tail = Buffer.concat(
      rest.map((message) =>
        message.message?.$case === 'chunk' ? message.message.chunk : Buffer.alloc(0),
      ),
    );
    expect(tail.toString()).toBe('6789');
  });

  it('an error carries google.rpc.Status with ErrorInfo in grpc-status-details-bin', async () => {
    const client = new DatasetServiceClient(address, credentials.createInsecure());
    const error = await new Promise<ServiceError>((resolve, reject) =>
      client.getDataset({ name: 'support' }, (failure) =>
        failure ? resolve(failure) : reject(new Error('expected NOT_FOUND')),
      ),
    );
    client.close();
    expect(error.code).toBe(status.NOT_FOUND);
    const [raw] = error.metadata.get('grpc-status-details-bin');
    const decoded = Status.decode(Buffer.isBuffer(raw) ? raw : Buffer.alloc(0));
    expect(decoded.code).toBe(status.NOT_FOUND);
    const info = ErrorInfo.decode(decoded.details[0]?.value ?? Buffer.alloc(0));
    expect(info).toEqual({
      reason: 'DATASET_NOT_FOUND',
      domain: 'lathe.datasets',
      metadata: { dataset: 'support' },
    });
  });
});
