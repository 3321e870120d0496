import { status } from '@grpc/grpc-js';
import {
  ImportModelRequest,
  ListModelsRequest,
  RegistryServiceService,
} from '@lathe/contracts/lathe/registry/v1/registry_service';
import type { ImportModelResponse } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { ModelVersion } from '@lathe/contracts/lathe/registry/v1/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/client/create-client.js';
import type { LatheClient } from '../src/client/create-client.js';
import type { RunningService } from '../src/server/start-service.js';
import type { Registry } from './in-process-service.js';
import { startRegistry } from './in-process-service.js';

describe('message size limits and client streaming', () => {
  let service: RunningService;
  let client: LatheClient<Registry>;
  beforeAll(async () => {
    let address: string;
    ({ service, address } = await startRegistry(
      {
        listModels: () => Promise.resolve({ models: [], page: undefined }),
        // Counts the bytes of every chunk the client streams, as an import would.
        importModel: async (requests) => {
          let bytes = 0;
          for await (const r of requests)
            if (r.message?.$case === 'chunk') bytes += r.message.chunk.length;
          return {
            version: ModelVersion.fromPartial({ ref: { name: `received-${String(bytes)}` } }),
          };
        },
      },
      { env: { LATHE_AUTH_MODE: 'none', LATHE_GRPC_MAX_RECEIVE_BYTES: '4096' } },
    ));
    client = createClient(RegistryServiceService, address, { idempotent: [] });
  });
  afterAll(async () => {
    client.close();
    await service.shutdown(1000);
  });

  it('refuses a request above LATHE_GRPC_MAX_RECEIVE_BYTES with RESOURCE_EXHAUSTED', async () => {
    await expect(
      client.listModels(ListModelsRequest.fromPartial({ namePrefix: 'x'.repeat(3000) })),
    ).resolves.toBeDefined();
    await expect(
      client.listModels(ListModelsRequest.fromPartial({ namePrefix: 'x'.repeat(5000) })),
    ).rejects.toMatchObject({ code: status.RESOURCE_EXHAUSTED });
  });

  it('lets a large payload through as a stream of small messages', async () => {
    const d = RegistryServiceService.importModel;
    const response = await new Promise<ImportModelResponse>((resolve, reject) => {
      const call = client.channel.makeClientStreamRequest(
        d.path,
        d.requestSerialize,
        d.responseDeserialize,
        { deadline: Date.now() + 5000 },
        (error, value) => {
          if (error !== null || value === undefined) reject(error ?? new Error('no response'));
          else resolve(value);
        },
      );
      for (let i = 0; i < 16; i++)
        call.write(
          ImportModelRequest.fromPartial({
            message: { $case: 'chunk', chunk: Buffer.alloc(2048, i) },
          }),
        );
      call.end();
    });
    expect(response.version?.ref?.name).toBe('received-32768');
  });
});
