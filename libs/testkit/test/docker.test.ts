import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort, isDockerReachable } from '../src/index.js';

describe('isDockerReachable', () => {
  // A real HTTP listener answering the Docker ping, standing in for an engine this machine lacks.
  let engine: Server;
  let port: number;
  beforeAll(async () => {
    engine = createServer((req, res) => {
      res.statusCode = req.url === '/_ping' ? 200 : 404;
      res.end('OK');
    });
    await new Promise<void>((resolve) => engine.listen(0, '127.0.0.1', resolve));
    port = (engine.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => engine.close(resolve));
  });

  it('is true when DOCKER_HOST answers the ping', async () => {
    expect(await isDockerReachable({ DOCKER_HOST: `tcp://127.0.0.1:${port}` })).toBe(true);
  });

  it('is false, quickly, when nothing listens', async () => {
    const started = Date.now();
    expect(
      await isDockerReachable({ DOCKER_HOST: `tcp://127.0.0.1:${await findFreePort()}` }),
    ).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('can be switched off', async () => {
    expect(
      await isDockerReachable({
        DOCKER_HOST: `tcp://127.0.0.1:${port}`,
        LATHE_TESTKIT_DOCKER: '0',
      }),
    ).toBe(false);
  });
});
