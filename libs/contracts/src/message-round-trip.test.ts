// Round trips of representative Lathe messages through the binary wire format, covering what
// the generation options promise callers: oneofs as `$case` unions, proto3 `optional` presence,
// Timestamps as Dates, bytes as Buffers, int64 as number, and maps as plain objects.
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { ArtifactRef } from './gen/lathe/common/v1/artifact.js';
import { ChatRole } from './gen/lathe/common/v1/chat.js';
import { DatasetSplit } from './gen/lathe/common/v1/dataset_ref.js';
import {
  UploadRecordsRequest,
  ReadRecordsResponse,
} from './gen/lathe/datasets/v1/dataset_service.js';
import { RecordFormat } from './gen/lathe/datasets/v1/dataset.js';
import { SubmitJudgementRequest } from './gen/lathe/preferences/v1/preference_service.js';
import { Choice } from './gen/lathe/preferences/v1/judgement.js';
import { DownloadModelResponse } from './gen/lathe/registry/v1/registry_service.js';
import { JobEvent } from './gen/lathe/training/v1/job_event.js';
import { JobQueued } from './gen/lathe/training/v1/events.js';
import { JobState } from './gen/lathe/training/v1/job.js';
import { CreateJobRequest } from './gen/lathe/training/v1/training_service.js';
import { Device, Method } from './gen/lathe/training/v1/job_spec.js';

describe('Lathe messages survive encode/decode', () => {
  it('CreateJobRequest keeps oneofs, optional presence, nested configs and labels', () => {
    const request = CreateJobRequest.fromPartial({
      spec: {
        method: Method.METHOD_QLORA,
        baseModel: { name: 'stories260k', selector: { $case: 'alias', alias: 'prod' } },
        dataset: { dataset: 'support', version: 3, manifestSha256: 'ab'.repeat(32) },
        hyperparameters: {
          learningRate: 0, // explicitly zero: must stay distinguishable from "unset"
          length: { $case: 'maxSteps', maxSteps: 1200 },
          warmup: { $case: 'warmupRatio', warmupRatio: 0.03 },
          seed: 42,
        },
        lora: { r: 16, alpha: 32, targetModules: ['q_proj', 'v_proj'], useRslora: true },
        qlora: { blockSize: 64, doubleQuant: false },
        resources: { device: Device.DEVICE_CUDA, memoryBudgetBytes: 24 * 2 ** 30 },
      },
      displayName: 'support qlora',
      labels: { team: 'support' },
      idempotencyKey: 'k-1',
    });
    const decoded = CreateJobRequest.decode(CreateJobRequest.encode(request).finish());
    expect(decoded).toEqual(request);
    const hyper = decoded.spec?.hyperparameters;
    expect(hyper?.learningRate).toBe(0);
    expect(hyper?.batchSize).toBeUndefined();
    expect(decoded.spec?.qlora?.doubleQuant).toBe(false);
    expect(decoded.spec?.dpo).toBeUndefined();
  });

  it('JobEvent carries a Date and one case of its event oneof', () => {
    const event = JobEvent.fromPartial({
      sequence: 17,
      jobId: 'job-1',
      attempt: 2,
      occurredAt: new Date('2026-01-02T03:04:05.678Z'),
      event: {
        $case: 'progress',
        progress: {
          step: 100,
          totalSteps: 1200,
          loss: 1.75,
          evalLoss: 1.9,
          eta: { seconds: 60, nanos: 0 },
        },
      },
    });
    const decoded = JobEvent.decode(JobEvent.encode(event).finish());
    expect(decoded).toEqual(event);
    expect(decoded.occurredAt?.toISOString()).toBe('2026-01-02T03:04:05.678Z');
    expect(decoded.event?.$case).toBe('progress');
  });

  it('JobQueued carries the fencing attempt and the trace context', () => {
    const message = JobQueued.fromPartial({
      eventId: 'e-1',
      jobId: 'job-1',
      attempt: 3,
      resumeFromCheckpointId: 'ck-9',
      trace: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    });
    expect(JobQueued.decode(JobQueued.encode(message).finish())).toEqual(message);
  });

  it('upload and download stream messages carry headers and raw bytes', () => {
    const header = UploadRecordsRequest.fromPartial({
      message: {
        $case: 'header',
        header: { dataset: 'support', format: RecordFormat.RECORD_FORMAT_HH_RLHF },
      },
    });
    const chunkBytes = Buffer.from([0, 255, 10, 13, 128]);
    const chunk = UploadRecordsRequest.fromPartial({
      message: { $case: 'chunk', chunk: chunkBytes },
    });
    expect(UploadRecordsRequest.decode(UploadRecordsRequest.encode(header).finish())).toEqual(
      header,
    );
    const decodedChunk = UploadRecordsRequest.decode(UploadRecordsRequest.encode(chunk).finish());
    expect(
      decodedChunk.message?.$case === 'chunk' &&
        Buffer.compare(decodedChunk.message.chunk, chunkBytes),
    ).toBe(0);

    const file = DownloadModelResponse.fromPartial({
      message: {
        $case: 'file',
        file: {
          path: 'model.safetensors',
          sizeBytes: 5_000_000_000,
          sha256: 'cd'.repeat(32),
          offset: 4096,
        },
      },
    });
    expect(DownloadModelResponse.decode(DownloadModelResponse.encode(file).finish())).toEqual(file);
  });

  it('records and judgements keep their enums', () => {
    const batch = ReadRecordsResponse.fromPartial({
      records: [
        {
          id: 'ef'.repeat(32),
          split: DatasetSplit.DATASET_SPLIT_EVAL,
          index: 7,
          content: {
            $case: 'conversation',
            conversation: {
              messages: [
                { role: ChatRole.CHAT_ROLE_USER, content: 'hi' },
                { role: ChatRole.CHAT_ROLE_ASSISTANT, content: 'hello' },
              ],
            },
          },
        },
      ],
      resumeToken: 't',
      nextOffset: 8,
    });
    expect(ReadRecordsResponse.decode(ReadRecordsResponse.encode(batch).finish())).toEqual(batch);

    const judgement = SubmitJudgementRequest.fromPartial({
      assignmentId: 'a-1',
      choice: Choice.CHOICE_TIE,
      timeSpent: { seconds: 12, nanos: 0 },
      idempotencyKey: 'k',
      expectedRevision: 1,
    });
    expect(
      SubmitJudgementRequest.decode(SubmitJudgementRequest.encode(judgement).finish()),
    ).toEqual(judgement);
  });

  it('JSON form uses proto names for enums and camelCase keys', () => {
    expect(JobState.JOB_STATE_SUCCEEDED).toBe(6);
    const json = CreateJobRequest.toJSON(
      CreateJobRequest.fromPartial({ spec: { method: Method.METHOD_DPO } }),
    );
    expect(json).toEqual({ spec: { method: 'METHOD_DPO' } });
  });
});

describe('int64 as number (forceLong=number)', () => {
  it('decodes values up to 2^53 - 1 exactly', () => {
    const ref: ArtifactRef = {
      sha256: '',
      sizeBytes: Number.MAX_SAFE_INTEGER,
      mediaType: '',
      uri: '',
    };
    expect(ArtifactRef.decode(ArtifactRef.encode(ref).finish()).sizeBytes).toBe(
      Number.MAX_SAFE_INTEGER,
    );
  });

  it('refuses to round a larger value silently', () => {
    // size_bytes (field 2) = 2^60, written by a peer whose int64 is 64-bit.
    const bytes = new BinaryWriter()
      .tag(2, WireType.Varint)
      .int64(2n ** 60n)
      .finish();
    expect(() => ArtifactRef.decode(bytes)).toThrow(/MAX_SAFE_INTEGER/);
  });
});
