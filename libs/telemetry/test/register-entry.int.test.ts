import { execFile } from 'node:child_process';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '../../..');

/** Runs a fixture (default emit-span) under the register entry with `env` added; returns stdout. */
async function runRegistered(
  env: Record<string, string>,
  fixture = 'emit-span.ts',
  register = true,
): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--conditions=lathe-source',
      '--import',
      'tsx',
      ...(register ? ['--import', join(here, '../src/register.ts')] : []),
      join(here, 'fixtures', fixture),
    ],
    {
      cwd: repoRoot,
      timeout: 30_000,
      env: { ...process.env, OTEL_METRICS_EXPORTER: 'none', ...env },
    },
  );
  return stdout;
}

describe('the --import register entry, configured by OTEL_* variables', () => {
  it('prints spans with OTEL_TRACES_EXPORTER=console', async () => {
    const stdout = await runRegistered({
      OTEL_TRACES_EXPORTER: 'console',
      OTEL_SERVICE_NAME: 'lathe-fixture',
    });
    expect(stdout).toContain("name: 'fixture.work'");
    expect(stdout).toContain("'lathe.fixture.answer': 42");
  });

  it('exports spans over OTLP/HTTP protobuf to OTEL_EXPORTER_OTLP_ENDPOINT before exiting', async () => {
    const received: Array<{ url: string; headers: IncomingHttpHeaders; body: Buffer }> = [];
    const collector = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({
          url: request.url ?? '',
          headers: request.headers,
          body: Buffer.concat(chunks),
        });
        response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const { port } = collector.address() as AddressInfo;
    try {
      await runRegistered({
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_SERVICE_NAME: 'lathe-fixture',
      });
    } finally {
      collector.close();
    }
    const traces = received.filter((r) => r.url === '/v1/traces');
    expect(traces).toHaveLength(1);
    expect(traces[0]?.headers['content-type']).toBe('application/x-protobuf');
    // Protobuf stores strings as UTF-8 bytes: the span and the service name are in the payload.
    expect(traces[0]?.body.includes('fixture.work')).toBe(true);
    expect(traces[0]?.body.includes('lathe-fixture')).toBe(true);
  });

  it('patches @grpc/grpc-js imported as an ES module, which a plain process does not', async () => {
    const env = { OTEL_TRACES_EXPORTER: 'none' };
    // The SDK logs its own diagnostics to stdout too: the report is the last line.
    const report = (stdout: string): unknown => JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
    expect(report(await runRegistered(env, 'report-grpc-patching.ts'))).toEqual({
      client: true,
      server: true,
    });
    expect(report(await runRegistered(env, 'report-grpc-patching.ts', false))).toEqual({
      client: false,
      server: false,
    });
  });

  it('exports nothing with OTEL_TRACES_EXPORTER=none', async () => {
    const stdout = await runRegistered({ OTEL_TRACES_EXPORTER: 'none' });
    expect(stdout).not.toContain('fixture.work');
  });
});
