import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import type { ModelRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import { RegistryServiceClient } from '@lathe/contracts/lathe/registry/v1/registry_service';
import type { DownloadModelResponse } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { TextTokenizer } from '@lathe/llm';
import { fromServiceError } from '@lathe/service-kit';

/** Where curation gets the tokenizer a TokenLengthFilter names. */
export interface TokenizerSource {
  /** The tokenizer (with its chat template) of a registry model. */
  load(ref: ModelRef, signal: AbortSignal): Promise<TextTokenizer>;
}

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'];

/**
 * Tokenizers fetched from the registry through its contract (`DownloadModel` of only the
 * tokenizer files), loaded by `@lathe/llm` exactly as the trainer loads them. Exact versions are
 * cached; aliases are resolved on every call, as the contract says.
 */
export class RegistryTokenizers implements TokenizerSource {
  private readonly client: RegistryServiceClient;
  private readonly metadata = new Metadata();
  private readonly cache = new Map<string, Promise<TextTokenizer>>();

  constructor(address: string, token: string | undefined) {
    this.client = new RegistryServiceClient(address, credentials.createInsecure());
    if (token !== undefined) this.metadata.set('authorization', `Bearer ${token}`);
  }

  load(ref: ModelRef, signal: AbortSignal): Promise<TextTokenizer> {
    if (ref.selector?.$case !== 'version') return this.fetch(ref, signal);
    const key = `${ref.name}@${ref.selector.version}`;
    let cached = this.cache.get(key);
    if (cached === undefined) {
      cached = this.fetch(ref, signal);
      this.cache.set(key, cached);
      cached.catch(() => this.cache.delete(key));
    }
    return cached;
  }

  private async fetch(ref: ModelRef, signal: AbortSignal): Promise<TextTokenizer> {
    const dir = await mkdtemp(join(tmpdir(), 'lathe-datasets-tokenizer-'));
    try {
      try {
        await this.download(ref, TOKENIZER_FILES, dir, signal);
      } catch (error) {
        // A model without tokenizer_config.json (no chat template) is still usable.
        if (!(error instanceof Error && 'code' in error && error.code === status.NOT_FOUND))
          throw error;
        await this.download(ref, TOKENIZER_FILES.slice(0, 1), dir, signal);
      }
      return await TextTokenizer.load(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async download(
    ref: ModelRef,
    paths: string[],
    dir: string,
    signal: AbortSignal,
  ): Promise<void> {
    const call = this.client.downloadModel(
      { ref, paths, resumePath: '', resumeOffset: 0, chunkSize: 0 },
      this.metadata,
    );
    const abort = (): void => call.cancel();
    signal.addEventListener('abort', abort);
    let file: ReturnType<typeof createWriteStream> | undefined;
    try {
      for await (const message of call as AsyncIterable<DownloadModelResponse>) {
        const m = message.message;
        if (m?.$case === 'file') {
          if (file !== undefined) await closeFile(file);
          // Only the two names asked for are ever written; a path with a directory is refused.
          if (!paths.includes(m.file.path))
            throw new Error(`registry sent an unexpected file "${m.file.path}"`);
          file = createWriteStream(join(dir, m.file.path));
        } else if (m?.$case === 'chunk') {
          if (file === undefined) throw new Error('registry sent bytes before a file header');
          if (!file.write(m.chunk)) await once(file, 'drain');
        }
      }
      if (file !== undefined) await closeFile(file);
    } catch (error) {
      file?.destroy();
      if (error instanceof Error && 'metadata' in error)
        throw fromServiceError(error as ServiceError);
      throw error;
    } finally {
      signal.removeEventListener('abort', abort);
    }
  }

  /** Closes the channel. */
  close(): void {
    this.client.close();
  }
}

async function closeFile(file: ReturnType<typeof createWriteStream>): Promise<void> {
  file.end();
  await finished(file);
}
