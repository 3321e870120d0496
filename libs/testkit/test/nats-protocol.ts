import { connect, type Socket } from 'node:net';

/**
 * Just enough of the NATS text protocol to check a server from tests without a client library:
 * read INFO, and make one request/reply (JetStream API calls are requests).
 */
export async function readInfo(port: number): Promise<Record<string, unknown>> {
  const socket = await open(port);
  try {
    const line = await readUntil(socket, (text) => text.includes('\r\n'));
    return JSON.parse(line.slice('INFO '.length, line.indexOf('\r\n'))) as Record<string, unknown>;
  } finally {
    socket.destroy();
  }
}

/** Sends `payload` to `subject` and returns the JSON reply. */
export async function request(
  port: number,
  subject: string,
  payload: string,
): Promise<Record<string, unknown>> {
  const socket = await open(port);
  try {
    await readUntil(socket, (text) => text.includes('\r\n'));
    const body = Buffer.from(payload);
    socket.write(
      `CONNECT {"verbose":false,"headers":true}\r\nSUB _INBOX.t 1\r\nPUB ${subject} _INBOX.t ${body.length}\r\n`,
    );
    socket.write(Buffer.concat([body, Buffer.from('\r\n')]));
    const text = await readUntil(socket, (t) => /MSG _INBOX\.t 1 \d+\r\n[\s\S]*\r\n/.test(t));
    const match = /MSG _INBOX\.t 1 (\d+)\r\n/.exec(text);
    if (match === null || match[1] === undefined) throw new Error(`no reply in: ${text}`);
    const start = (match.index ?? 0) + match[0].length;
    return JSON.parse(text.slice(start, start + Number(match[1]))) as Record<string, unknown>;
  } finally {
    socket.destroy();
  }
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

function readUntil(socket: Socket, done: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`timed out; read so far: ${text}`)), 5_000);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (done(text)) {
        clearTimeout(timer);
        resolve(text);
      }
    });
    socket.once('error', reject);
  });
}
