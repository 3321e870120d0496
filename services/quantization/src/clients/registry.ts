import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { finished } from 'node:stream/promises';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type { ModelRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import type { ModelVersion } from '@lathe/contracts/lathe/registry/v1/model';
import {
  RegistryServiceService,
  type DownloadModelResponse,
  type RegisterQuantizedModelRequest,
} from '@lathe/contracts/lathe/registry/v1/registry_service';
import { createClient, fromServiceError, type LatheClient } from '@lathe/service-kit';
import type { VersionRef } from '../domain/quantization-job.js';

/** What the quantization service asks of the registry, through its contract. */
export interface RegistryGateway {
  /** The version `ref` names now (an alias is resolved). LatheError NOT_FOUND when absent. */
  resolve(ref: ModelRef): Promise<ModelVersion>;
  /**
   * Writes every file of exactly `version` into `dir` (which must exist), each checked against
   * the size and SHA-256 the registry announces. Fails if the version's digest moved.
   */
  download(version: VersionRef, dir: string, signal: AbortSignal): Promise<void>;
  /** RegisterQuantizedModel; the files must already be in the registry's artifact store. */
  registerQuantized(request: RegisterQuantizedModelRequest): Promise<ModelVersion>;
  /** Closes the channel. */
  close(): void;
}

/** Connection settings of {@link RegistryClient}. */
export interface RegistryClientOptions {
  /** Bearer token with role model-editor (it reads sources and registers results); none if unset. */
  readonly token?: string | undefined;
  /** Deadline of each unary call, ms. Default 120 000: registering validates every tensor. */
  readonly deadlineMs?: number;
}

/** Deadline of a GetModelVersion lookup (retries on UNAVAILABLE included), ms. */
const RESOLVE_DEADLINE_MS = 15_000;

/** A path from the registry, relative and without `..`, or an error. */
function safeRelativePath(path: string): string {
  if (path === '' || path.startsWith('/') || path.split('/').some((p) => p === '..' || p === ''))
    throw new Error(`registry sent an unsafe file path "${path}"`);
  return path;
}

/**
 * The registry over gRPC: unary calls through the kit's client (reads retried on UNAVAILABLE),
 * DownloadModel as a server stream on the same channel.
 */
export class RegistryClient implements RegistryGateway {
  private readonly client: LatheClient<typeof RegistryServiceService>;
  private readonly token: string | undefined;

  constructor(address: string, options: RegistryClientOptions = {}) {
    this.token = options.token;
    this.client = createClient(RegistryServiceService, address, {
      idempotent: ['getModelVersion', 'registerQuantizedModel'],
      deadlineMs: options.deadlineMs ?? 120_000,
      ...(options.token === undefined ? {} : { token: options.token }),
    });
  }

  async resolve(ref: ModelRef): Promise<ModelVersion> {
    // A lookup answers fast or not at all: a short deadline, so a caller waiting on
    // QuantizeModel hears UNAVAILABLE / DEADLINE_EXCEEDED instead of hanging.
    const { version } = await this.client.getModelVersion(
      { ref, includeDeleted: false },
      { deadlineMs: RESOLVE_DEADLINE_MS },
    );
    if (version === undefined)
      throw new Error('registry answered GetModelVersion without a version');
    return version;
  }

  async registerQuantized(request: RegisterQuantizedModelRequest): Promise<ModelVersion> {
    const { version } = await this.client.registerQuantizedModel(request);
    if (version === undefined)
      throw new Error('registry answered RegisterQuantizedModel without a version');
    return version;
  }

  async download(version: VersionRef, dir: string, signal: AbortSignal): Promise<void> {
    const metadata = new Metadata();
    if (this.token !== undefined) metadata.set('authorization', `Bearer ${this.token}`);
    const method = RegistryServiceService.downloadModel;
    const call = this.client.channel.makeServerStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      {
        ref: { name: version.name, selector: { $case: 'version', version: version.version } },
        paths: [],
        resumePath: '',
        resumeOffset: 0,
        chunkSize: 0,
      },
      metadata,
    );
    const abort = (): void => call.cancel();
    signal.addEventListener('abort', abort);
    let file: { out: WriteStream; path: string; size: number; sha256: string } | undefined;
    let hash = createHash('sha256');
    let written = 0;
    const closeFile = async (): Promise<void> => {
      if (file === undefined) return;
      file.out.end();
      await finished(file.out);
      const actual = hash.digest('hex');
      if (written !== file.size || actual !== file.sha256)
        throw new Error(
          `downloaded "${file.path}" is ${String(written)} bytes with sha256 ${actual}; the registry announced ${String(file.size)} bytes, ${file.sha256}`,
        );
      file = undefined;
    };
    try {
      for await (const message of call as AsyncIterable<DownloadModelResponse>) {
        const m = message.message;
        if (m?.$case === 'version') {
          const digest = m.version.ref?.manifestSha256;
          if (digest !== version.manifestSha256)
            throw new Error(
              `${version.name}@${String(version.version)} now has manifest ${String(digest)}, not ${version.manifestSha256}`,
            );
        } else if (m?.$case === 'file') {
          await closeFile();
          const path = join(dir, safeRelativePath(m.file.path));
          await mkdir(dirname(path), { recursive: true });
          file = {
            out: createWriteStream(path),
            path: m.file.path,
            size: m.file.sizeBytes,
            sha256: m.file.sha256,
          };
          hash = createHash('sha256');
          written = 0;
        } else if (m?.$case === 'chunk') {
          if (file === undefined) throw new Error('registry sent bytes before a file header');
          hash.update(m.chunk);
          written += m.chunk.length;
          if (!file.out.write(m.chunk)) await once(file.out, 'drain');
        }
      }
      await closeFile();
    } catch (error) {
      file?.out.destroy();
      if (error instanceof Error && 'metadata' in error)
        throw fromServiceError(error as ServiceError);
      throw error;
    } finally {
      signal.removeEventListener('abort', abort);
    }
  }

  close(): void {
    this.client.close();
  }
}
