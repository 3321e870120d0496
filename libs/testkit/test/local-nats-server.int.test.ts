import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNats, TestServerUnavailableError, type TestNats } from '../src/index.js';
import { readInfo, request } from './nats-protocol.js';

const hasBinary = existsSync(process.env['NATS_SERVER_BIN'] ?? '/usr/sbin/nats-server');
if (!hasBinary)
  console.warn('skipping private nats-server tests: no nats-server binary (set NATS_SERVER_BIN)');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!hasBinary)('private nats-server', () => {
  let nats: TestNats;
  beforeAll(async () => {
    nats = await startNats({ restartable: true });
  });
  afterAll(async () => {
    await nats.close();
  });

  it('runs JetStream on a free local port', async () => {
    expect(nats.source).toBe('local');
    const port = Number(new URL(nats.url).port);
    const info = await readInfo(port);
    expect(info['jetstream']).toBe(true);
    expect(info['port']).toBe(port);
  });

  it('keeps port and JetStream state across a crash and restart', async () => {
    const port = Number(new URL(nats.url).port);
    const created = await request(
      port,
      '$JS.API.STREAM.CREATE.KEEP',
      JSON.stringify({ name: 'KEEP', subjects: ['keep.>'], storage: 'file' }),
    );
    expect(created['error']).toBeUndefined();
    await nats.stop('SIGKILL');
    await expect(readInfo(port)).rejects.toThrow(/ECONNREFUSED/);
    await nats.start();
    const info = await request(port, '$JS.API.STREAM.INFO.KEEP', '');
    expect((info['config'] as { name: string }).name).toBe('KEEP');
    await nats.restart();
    expect((await readInfo(port))['jetstream']).toBe(true);
  });
});

describe.skipIf(!hasBinary)('cleanup', () => {
  it('close() kills the server and removes its store', async () => {
    const nats = await startNats({ restartable: true });
    const port = Number(new URL(nats.url).port);
    const info = await readInfo(port);
    await nats.close();
    await expect(readInfo(port)).rejects.toThrow(/ECONNREFUSED/);
    expect(info['server_name']).toBe(`lathe-test-${port}`);
  });

  it('a SIGKILLed test process takes its server with it, and the next run sweeps its store', async () => {
    const { held, child } = await startHolder({});
    expect(isAlive(held.owner.serverPid)).toBe(true);
    child.kill('SIGKILL');
    await until(() => !isAlive(held.owner.serverPid), 'the orphaned nats-server to die');
    expect(existsSync(held.dir)).toBe(true);
    const next = await startNats({ restartable: true });
    await next.close();
    expect(existsSync(held.dir)).toBe(false);
  });

  it('a test process that exits without teardown stops its server and removes its store', async () => {
    const { held, exited } = await startHolder({ HOLD: 'exit' });
    await exited;
    await until(() => !isAlive(held.owner.serverPid), 'the nats-server to stop');
    expect(existsSync(held.dir)).toBe(false);
  });
});

interface Held {
  dir: string;
  owner: { serverPid: number };
}

/** Runs fixtures/hold-nats.ts and returns what it reports about its server. */
async function startHolder(
  env: Record<string, string>,
): Promise<{ held: Held; child: ChildProcess; exited: Promise<void> }> {
  const fixture = fileURLToPath(new URL('./fixtures/hold-nats.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await Promise.race([
    until(() => out.includes('\n'), 'the fixture to report its server', 15_000),
    exited,
  ]);
  if (!out.includes('\n')) throw new Error(`fixture exited before reporting: ${out}`);
  return { held: JSON.parse(out) as Held, child, exited };
}

describe('resolution', () => {
  it('uses NATS_URL as is and refuses to restart a shared server', async () => {
    const nats = await startNats({ env: { NATS_URL: 'nats://example.invalid:4222' } });
    expect(nats.url).toBe('nats://example.invalid:4222');
    expect(nats.source).toBe('env');
    await expect(nats.restart()).rejects.toThrow(/restartable: true/);
    await nats.close();
  });

  it('says which variable to set when nothing is reachable', async () => {
    const attempt = startNats({
      env: { NATS_SERVER_BIN: '/nonexistent/nats-server', LATHE_TESTKIT_DOCKER: '0' },
    });
    await expect(attempt).rejects.toBeInstanceOf(TestServerUnavailableError);
    await expect(attempt).rejects.toThrow(/set NATS_URL[\s\S]*\/nonexistent\/nats-server/);
  });
});
