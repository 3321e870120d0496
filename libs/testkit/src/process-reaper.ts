import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Last-resort cleanup for what tests start. Normal teardown (`close()` in `afterAll`) stops
 * servers and removes directories; this module covers the cases where that never runs:
 *  - the test process exits without teardown: an `exit` hook kills children and removes dirs
 *    synchronously (the only kind of work an `exit` hook may do);
 *  - the test process is SIGKILLed: children were started under `setpriv --pdeathsig SIGKILL`
 *    so the kernel kills them, and the next testkit run sweeps directories whose owner is dead.
 */

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** Kills `child` when this process exits, unless {@link releaseChild} was called first. */
export function trackChild(child: ChildProcess): void {
  hookExit();
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

/** Removes `dir` when this process exits, unless {@link releaseDir} was called first. */
export function trackDir(dir: string): void {
  hookExit();
  liveDirs.add(dir);
}

/** Forgets a directory that was removed by normal teardown. */
export function releaseDir(dir: string): void {
  liveDirs.delete(dir);
}

/** The file in each testkit temp dir that names the process owning it. */
export const OWNER_FILE = 'owner.json';

/** What {@link OWNER_FILE} holds. */
export interface DirOwner {
  ownerPid: number;
  serverPid?: number;
}

/** True when a process with this pid exists (signal 0 probes without signalling). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes temp dirs named `<prefix>*` left by testkit processes that died without cleaning up,
 * killing their server first when it still runs. Dirs of live owners are left alone: they belong
 * to tests running in parallel.
 */
export function sweepStaleDirs(prefix: string, serverBinaryHint: string): void {
  const base = tmpdir();
  let names: string[];
  try {
    names = readdirSync(base).filter((n) => n.startsWith(prefix));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = join(base, name);
    let owner: DirOwner;
    try {
      owner = JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8')) as DirOwner;
    } catch {
      continue; // being created right now, or not ours
    }
    if (isAlive(owner.ownerPid)) continue;
    if (
      owner.serverPid !== undefined &&
      isAlive(owner.serverPid) &&
      commandLineOf(owner.serverPid).includes(serverBinaryHint)
    ) {
      process.kill(owner.serverPid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}
