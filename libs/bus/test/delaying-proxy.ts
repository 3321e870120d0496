import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy in front of a NATS server that can hold back what the server sends (acks
 * included) while letting the client's traffic through: a way to make a publish reach the
 * stream while its acknowledgement arrives too late. Held bytes are delivered, in order, on
 * release, so the protocol stream stays intact.
 */
export class DelayingProxy {
  private holding = false;
  private readonly held: Array<{ to: Socket; chunk: Buffer }> = [];
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(targetPort: number): Promise<DelayingProxy> {
    const server = createServer();
    const proxy = new DelayingProxy(server);
    server.on('connection', (client: Socket) => proxy.bridge(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  private bridge(client: Socket, targetPort: number): void {
    const upstream = connect(targetPort, '127.0.0.1');
    this.sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (this.holding) this.held.push({ to: client, chunk });
      else client.write(chunk);
    });
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  }

  /** `nats://127.0.0.1:<proxy port>` */
  get url(): string {
    return `nats://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** From now on, keep what the server sends. */
  hold(): void {
    this.holding = true;
  }

  /** Deliver what was kept, and pass traffic through again. */
  release(): void {
    this.holding = false;
    for (const { to, chunk } of this.held.splice(0)) to.write(chunk);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
