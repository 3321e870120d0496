import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('./fixtures/put-until-killed.ts', import.meta.url));

/** A put-until-killed child with a way to wait for a line on its stdout. */
export interface PutChild {
  child: ChildProcessWithoutNullStreams;
  /** Resolves when the child printed `line`; rejects if it exits first. */
  waitFor(line: string): Promise<void>;
  /** SIGKILLs the child and resolves once it is gone. */
  kill(): Promise<void>;
}

/** Starts the fixture with the given environment. */
export function startPutChild(env: Record<string, string>): PutChild {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, ...env },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    waitFor: (line) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (out.split('\n').includes(line)) resolve();
        };
        child.stdout.on('data', check);
        check();
        void exited.then(() =>
          reject(
            new Error(`child exited before printing "${line}"; stdout: ${out}; stderr: ${err}`),
          ),
        );
      }),
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
