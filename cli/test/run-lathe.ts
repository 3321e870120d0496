import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root (tests start `lathe` from there so `--import tsx` resolves). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/** What a finished `lathe` process left behind. */
export interface LatheRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Starts `lathe <args>` as a real child process from the TypeScript sources (the `lathe-source`
 * export condition and tsx), as `bin/lathe.js` would run the build.
 */
export function startLathe(args: readonly string[]): ChildProcess {
  return spawn(process.execPath, ['--conditions=lathe-source', '--import', 'tsx', MAIN, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Collects a started process's output until it exits. */
export function finished(child: ChildProcess): Promise<LatheRun> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs `lathe <args>` to completion. */
export function runLathe(args: readonly string[]): Promise<LatheRun> {
  return finished(startLathe(args));
}
