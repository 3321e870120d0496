// The images' health probe against a real service process (the quantization service's entry point,
// the lightest: no store) and against a grpc-js server that reports NOT_SERVING.
import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { spawnService, type SpawnedService } from '@lathe/service-kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeHealthCheckResponse } from '../src/grpc-health.js';
import { runProbe } from '../src/run-probe.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const quantizationMain = fileURLToPath(
  new URL('../../services/quantization/src/main.ts', import.meta.url),
);

async function probe(
  argv: string[],
  environment: Record<string, string> = {},
): Promise<{ code: number; output: string }> {
  const lines: string[] = [];
  const code = await runProbe(argv, environment, (line) => lines.push(line));
  return { code, output: lines.join('\n') };
}

describe('lathe-health-probe against the quantization service process', () => {
  let service: SpawnedService;

  beforeAll(async () => {
    service = await spawnService({
      entry: quantizationMain,
      cwd: repoRoot,
      env: { LATHE_AUTH_MODE: 'none' },
      startTimeoutMs: 60_000,
    });
  }, 90_000);

  afterAll(async () => {
    await service?.stop();
  });

  it('exits 0 on SERVING for the server and for the service name', async () => {
    const whole = await probe(['--address', service.address]);
    expect(whole).toEqual({ code: 0, output: `SERVING: ${service.address}` });
    const named = await probe([
      '--address',
      service.address,
      '--service',
      'lathe.quantization.v1.QuantizationService',
    ]);
    expect(named.code).toBe(0);
  });

  it('finds the service from LATHE_<SERVICE>_PORT when no address is given', async () => {
    const port = service.address.split(':')[1] ?? '';
    const found = await probe([], { LATHE_QUANTIZATION_PORT: port });
    expect(found).toEqual({ code: 0, output: `SERVING: 127.0.0.1:${port}` });
  });

  it('exits 1 for a service name the server does not know, and 1 over TLS to a plaintext port', async () => {
    const unknown = await probe(['--address', service.address, '--service', 'no.Such']);
    expect(unknown.code).toBe(1);
    expect(unknown.output).toMatch(/NOT_FOUND/);
    const tls = await probe(['--address', service.address, '--tls', '--timeout-ms', '3000']);
    expect(tls.code).toBe(1);
  });

  it('exits 2 with the usage on a bad flag', async () => {
    const bad = await probe(['--port', '1']);
    expect(bad.code).toBe(2);
    expect(bad.output).toMatch(/unknown flag "--port"[\s\S]*usage: lathe-health-probe/);
  });

  it('exits 1 once the service is gone', async () => {
    const address = service.address;
    const exit = await service.stop();
    expect(exit.code).toBe(0);
    const gone = await probe(['--address', address, '--timeout-ms', '2000']);
    expect(gone.code).toBe(1);
    expect(gone.output).toMatch(/^no answer: /);
  });
});

describe('lathe-health-probe against a server reporting NOT_SERVING', () => {
  let server: Server;
  let address: string;

  beforeAll(async () => {
    server = new Server();
    server.register(
      '/grpc.health.v1.Health/Check',
      (_call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
        callback(null, Buffer.from([0x08, 0x02]));
      },
      (response: Buffer) => response,
      (request: Buffer) => request,
      'unary',
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
        error === null ? resolve(bound) : reject(error),
      ),
    );
    address = `127.0.0.1:${String(port)}`;
  });

  afterAll(() => {
    server?.forceShutdown();
  });

  it('exits 1 and prints the status', async () => {
    expect(decodeHealthCheckResponse(Buffer.from([0x08, 0x02]))).toBe('NOT_SERVING');
    const result = await probe(['--address', address]);
    expect(result).toEqual({ code: 1, output: `NOT_SERVING: ${address}` });
  });
});
