import { existsSync } from 'node:fs';
import { request } from 'node:http';

/** How long the Docker ping may take before we decide there is no engine. */
const PING_TIMEOUT_MS = 500;

/**
 * Answers whether a Docker engine is reachable, cheaply: `DOCKER_HOST` (unix:// or tcp://) or
 * `/var/run/docker.sock` must answer `GET /_ping` within half a second. Testcontainers itself is
 * only imported after this says yes, because loading it costs far more than the ping.
 *
 * Set `LATHE_TESTKIT_DOCKER=0` to skip the check (and testcontainers) altogether.
 */
export async function isDockerReachable(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (env['LATHE_TESTKIT_DOCKER'] === '0') return false;
  const host = env['DOCKER_HOST'];
  if (host !== undefined && host !== '') {
    if (host.startsWith('unix://')) return ping({ socketPath: host.slice('unix://'.length) });
    if (host.startsWith('tcp://')) {
      const url = new URL(`http://${host.slice('tcp://'.length)}`);
      return ping({ host: url.hostname, port: Number(url.port || 2375) });
    }
    // ssh:// and npipe:// need the Docker client's own transports; let testcontainers try.
    return true;
  }
  const socketPath = '/var/run/docker.sock';
  return existsSync(socketPath) ? ping({ socketPath }) : false;
}

function ping(target: { socketPath: string } | { host: string; port: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { ...target, path: '/_ping', method: 'GET', timeout: PING_TIMEOUT_MS },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
