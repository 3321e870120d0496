import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import {
  QuantizeModelRequest,
  QuantizationServiceService,
} from '@lathe/contracts/lathe/quantization/v1/quantization_service';
import { createClient, LatheError } from '@lathe/service-kit';
import { checkHealth, runUntilExit, startServiceUnderTest } from '@lathe/service-kit/testing';
import type { ServiceUnderTest } from '@lathe/service-kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const entry = fileURLToPath(new URL('../src/main.ts', import.meta.url));

async function failure(p: Promise<unknown>): Promise<LatheError> {
  const e: unknown = await p.then(
    () => new Error('the call succeeded'),
    (error: unknown) => error,
  );
  if (e instanceof LatheError) return e;
  throw e;
}

describe('the quantization service process', () => {
  let svc: ServiceUnderTest;
  beforeAll(async () => {
    svc = await startServiceUnderTest(entry, 'lathe.quantization');
  });
  afterAll(async () => {
    expect(await svc.process.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  const client = async (roles: string[] | undefined) =>
    createClient(QuantizationServiceService, svc.process.address, {
      ...(roles === undefined ? {} : { token: await svc.token(roles) }),
      idempotent: [],
    });

  it('is SERVING over real gRPC health checks', async () => {
    expect(
      await checkHealth(svc.process.address, 'lathe.quantization.v1.QuantizationService'),
    ).toBe('SERVING');
    expect(await checkHealth(svc.process.address)).toBe('SERVING');
  });

  it('answers a malformed QuantizeModel with INVALID_ARGUMENT and field violations, a valid one with UNIMPLEMENTED', async () => {
    const c = await client(['admin']);
    const bad = await failure(
      c.quantizeModel(
        QuantizeModelRequest.fromPartial({ source: { name: 'Llama' }, outputName: '' }),
      ),
    );
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details.fieldViolations?.map((v) => v.field)).toEqual([
      'source.name',
      'spec',
      'outputName',
    ]);
    expect(bad.details.errorInfo.domain).toBe('lathe.quantization');
    const todo = await failure(
      c.quantizeModel(
        QuantizeModelRequest.fromPartial({
          source: { name: 'llama' },
          spec: { scheme: 1 },
          outputName: 'llama-nf4',
        }),
      ),
    );
    expect(todo.code).toBe(status.UNIMPLEMENTED);
    expect(todo.rawMessage).toBe(
      'lathe.quantization.v1.QuantizationService/QuantizeModel is not implemented yet',
    );
    c.close();
  });

  it('refuses calls without a token, and with a token lacking the role', async () => {
    const anonymous = await client(undefined);
    expect(
      (
        await failure(
          anonymous.quantizeModel(
            QuantizeModelRequest.fromPartial({
              source: { name: 'llama' },
              spec: { scheme: 1 },
              outputName: 'llama-nf4',
            }),
          ),
        )
      ).code,
    ).toBe(status.UNAUTHENTICATED);
    anonymous.close();
    const stranger = await client(['dataset-nobody']);
    expect(
      (
        await failure(
          stranger.quantizeModel(
            QuantizeModelRequest.fromPartial({
              source: { name: 'llama' },
              spec: { scheme: 1 },
              outputName: 'llama-nf4',
            }),
          ),
        )
      ).code,
    ).toBe(status.PERMISSION_DENIED);
    stranger.close();
  });

  it('stops at start with one line naming a missing variable', async () => {
    const { code, stderr } = await runUntilExit(entry, {
      LATHE_JWT_SECRET: 'service-test-secret-that-is-32-bytes',
    });
    expect(code).toBe(78);
    expect(stderr).toEqual([
      'quantization: invalid configuration: LATHE_JWT_ISSUER is required when LATHE_AUTH_MODE=jwt',
    ]);
  });
});
