import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { credentials, loadPackageDefinition, status } from '@grpc/grpc-js';
import type {
  Client,
  ClientDuplexStream,
  GrpcObject,
  ServiceClientConstructor,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import {
  DownloadModelRequest,
  RegistryServiceService,
} from '@lathe/contracts/lathe/registry/v1/registry_service';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/client/create-client.js';
import type { LatheClient } from '../src/client/create-client.js';
import { LatheError } from '../src/errors/lathe-error.js';
import { DeadlineExceededError } from '../src/server/call-signal.js';
import type { RunningService } from '../src/server/start-service.js';
import { checkHealth } from '../src/testing/probes.js';
import { signTestToken, unsignedTestToken } from '../src/testing/test-tokens.js';
import type { Registry } from './in-process-service.js';
import { startRegistry, TEST_JWT } from './in-process-service.js';
import { metadataWithToken } from './metadata-with-token.js';

const token = (
  roles: string[],
  extra: { expiresInSeconds?: number; audience?: string } = {},
): Promise<string> =>
  signTestToken({
    secret: TEST_JWT.secret,
    issuer: TEST_JWT.issuer,
    audience: extra.audience ?? TEST_JWT.audience,
    roles,
    ...extra,
  });

async function failure(p: Promise<unknown>): Promise<LatheError> {
  try {
    await p;
  } catch (error) {
    if (error instanceof LatheError) return error;
    throw error;
  }
  throw new Error('the call succeeded');
}

describe('a service started by the kit', () => {
  let service: RunningService;
  let address: string;
  let logs: string[];
  let reader: LatheClient<Registry>;
  let lastSignal: AbortSignal | undefined;

  beforeAll(async () => {
    ({ service, address, logs } = await startRegistry(
      {
        // Injected test handlers on the real contract: one per behaviour under test.
        listModels: async (request, ctx) => {
          if (request.namePrefix === 'internal')
            throw new Error('password=hunter2 in a connection string');
          if (request.namePrefix === 'missing') throw LatheError.notFound('model', 'llama');
          if (request.namePrefix === 'slow') {
            lastSignal = ctx.signal;
            await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
          }
          return {
            models: [],
            page: { nextPageToken: `hello ${ctx.principal?.subject ?? 'nobody'}`, totalSize: 0 },
          };
        },
        downloadModel: async function* () {
          for (let i = 0; i < 3; i++)
            yield await Promise.resolve({
              message: { $case: 'chunk' as const, chunk: Buffer.from([i]) },
            });
        },
      },
      { rules: { listModelVersions: (r, v) => v.resourceName('name', r.name) } },
    ));
    reader = createClient(RegistryServiceService, address, {
      token: await token(['model-reader'], {}),
      idempotent: [],
    });
  });
  afterAll(async () => {
    reader.close();
    await service.shutdown(1000);
  });

  it('answers health checks without credentials', async () => {
    expect(await checkHealth(address)).toBe('SERVING');
    expect(await checkHealth(address, 'lathe.registry.v1.RegistryService')).toBe('SERVING');
  });

  it('serves reflection for its proto, without credentials', async () => {
    const require = createRequire(import.meta.url);
    const proto = join(
      dirname(require.resolve('@grpc/reflection')),
      '../proto/grpc/reflection/v1/reflection.proto',
    );
    const pkg = loadPackageDefinition(loadSync(proto)) as unknown as {
      grpc: { reflection: { v1: GrpcObject } };
    };
    const Ctor = pkg.grpc.reflection.v1['ServerReflection'] as ServiceClientConstructor;
    const client = new Ctor(address, credentials.createInsecure()) as unknown as Client & {
      serverReflectionInfo(): ClientDuplexStream<object, Record<string, unknown>>;
    };
    const ask = (request: object): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) => {
        const call = client.serverReflectionInfo();
        call.once('data', (r: Record<string, unknown>) => {
          resolve(r);
          call.end();
        });
        call.once('error', reject);
        call.write(request);
      });
    const listed = (await ask({ listServices: '' }))['listServicesResponse'] as {
      service: { name: string }[];
    };
    expect(listed.service.map((s) => s.name)).toContain('lathe.registry.v1.RegistryService');
    const files = (await ask({ fileContainingSymbol: 'lathe.registry.v1.RegistryService' }))[
      'fileDescriptorResponse'
    ] as { fileDescriptorProto: Buffer[] };
    expect(files.fileDescriptorProto.length).toBeGreaterThan(0);
    client.close();
  });

  it('passes the principal to handlers and answers', async () => {
    const res = await reader.listModels({ kind: 0, namePrefix: '', labels: {}, page: undefined });
    expect(res.page?.nextPageToken).toBe('hello test-user');
  });

  it('sends LatheErrors with their details and turns anything else into a bare INTERNAL', async () => {
    const nf = await failure(
      reader.listModels({ kind: 0, namePrefix: 'missing', labels: {}, page: undefined }),
    );
    expect(nf.code).toBe(status.NOT_FOUND);
    expect(nf.details.resourceInfo).toMatchObject({ resourceType: 'model', resourceName: 'llama' });
    expect(nf.details.errorInfo.domain).toBe('lathe.registry');

    const internal = await failure(
      reader.listModels({ kind: 0, namePrefix: 'internal', labels: {}, page: undefined }),
    );
    expect(internal.code).toBe(status.INTERNAL);
    expect(internal.rawMessage).toBe('internal error');
    expect(JSON.stringify(internal.details)).not.toContain('hunter2');
    expect(logs.some((l) => l.includes('"level":"error"') && l.includes('hunter2'))).toBe(true);
  });

  it('validates requests into one INVALID_ARGUMENT and answers UNIMPLEMENTED for rpcs not built', async () => {
    const bad = await failure(
      reader.listModelVersions({ name: 'Not A Name', includeDeleted: false, page: undefined }),
    );
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details.fieldViolations?.map((v) => v.field)).toEqual(['name']);
    const todo = await failure(
      reader.listModelVersions({ name: 'llama', includeDeleted: false, page: undefined }),
    );
    expect(todo.code).toBe(status.UNIMPLEMENTED);
    expect(todo.rawMessage).toBe(
      'lathe.registry.v1.RegistryService/ListModelVersions is not implemented yet',
    );
  });

  it('aborts the handler signal at the deadline', async () => {
    const e = await failure(
      reader.listModels(
        { kind: 0, namePrefix: 'slow', labels: {}, page: undefined },
        { deadlineMs: 300 },
      ),
    );
    expect(e.code).toBe(status.DEADLINE_EXCEEDED);
    await new Promise((r) => setTimeout(r, 100));
    expect(lastSignal?.aborted).toBe(true);
    expect(lastSignal?.reason).toBeInstanceOf(DeadlineExceededError);
  });

  it('streams server-streaming responses', async () => {
    const stream = reader.channel.makeServerStreamRequest(
      RegistryServiceService.downloadModel.path,
      RegistryServiceService.downloadModel.requestSerialize,
      RegistryServiceService.downloadModel.responseDeserialize,
      DownloadModelRequest.fromPartial({ ref: { name: 'llama' } }),
      metadataWithToken(await token(['model-reader'])),
      { deadline: Date.now() + 5000 },
    );
    const chunks: number[] = [];
    for await (const m of stream) {
      const message = (m as { message?: { $case: string; chunk?: Buffer } }).message;
      if (message?.$case === 'chunk' && message.chunk !== undefined)
        chunks.push(message.chunk[0] ?? -1);
    }
    expect(chunks).toEqual([0, 1, 2]);
  });

  describe('authentication', () => {
    const call = async (tok: string | undefined): Promise<LatheError> => {
      const c = createClient(RegistryServiceService, address, {
        ...(tok === undefined ? {} : { token: tok }),
        idempotent: [],
      });
      try {
        return await failure(
          c.listModels({ kind: 0, namePrefix: '', labels: {}, page: undefined }),
        );
      } finally {
        c.close();
      }
    };

    it('refuses missing, expired, wrong-audience and alg-none tokens with UNAUTHENTICATED', async () => {
      const cases = [
        await call(undefined),
        await call(await token(['model-reader'], { expiresInSeconds: -120 })),
        await call(await token(['model-reader'], { audience: 'lathe.datasets' })),
        await call(
          unsignedTestToken({
            issuer: TEST_JWT.issuer,
            audience: TEST_JWT.audience,
            roles: ['admin'],
          }),
        ),
      ];
      expect(cases.map((e) => e.code)).toEqual([
        status.UNAUTHENTICATED,
        status.UNAUTHENTICATED,
        status.UNAUTHENTICATED,
        status.UNAUTHENTICATED,
      ]);
      expect(cases[0]?.rawMessage).toContain('missing bearer token');
      expect(cases[1]?.rawMessage).toBe('bearer token has expired');
      expect(cases[2]?.rawMessage).toContain('"aud"');
      expect(cases.every((e) => e.details.errorInfo.reason === 'UNAUTHENTICATED')).toBe(true);
    });

    it('refuses a valid token without the role with PERMISSION_DENIED', async () => {
      const e = await call(await token(['dataset-reader']));
      expect(e.code).toBe(status.PERMISSION_DENIED);
      expect(e.details.errorInfo).toMatchObject({
        reason: 'ROLE_REQUIRED',
        metadata: { requiredRole: 'model-reader,admin' },
      });
    });
  });
});
