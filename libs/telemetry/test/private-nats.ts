import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A throwaway nats-server with in-memory JetStream. */
export interface PrivateNats {
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts `nats-server -js` on a free port (binary from `NATS_SERVER_BIN`, else /usr/sbin). */
export async function startPrivateNats(): Promise<PrivateNats> {
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        resolve(typeof address === 'object' && address !== null ? address.port : 0),
      );
    });
  });
  const bin = process.env['NATS_SERVER_BIN'] ?? '/usr/sbin/nats-server';
  const child = spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '-js'], { stdio: 'ignore' });
  for (let tries = 0; ; tries++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => resolve(socket.destroy() !== undefined));
      socket.once('error', () => resolve(false));
    });
    if (up) break;
    if (tries > 200) throw new Error(`nats-server (${bin}) did not listen on ${port} within 10 s`);
    await sleep(50);
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}
