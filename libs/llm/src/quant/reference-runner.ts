import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Debian's Python, which has torch (the `python3` on PATH may not). */
const PYTHON = '/usr/bin/python3';
const here = dirname(fileURLToPath(import.meta.url));

/** The independent numpy/torch reference script. */
export const REFERENCE_SCRIPT = join(here, 'reference', 'bnb_reference.py');

/** `<repo>/../shared`, where the shared models and data live. */
export const SHARED_DIR = resolve(here, '../../../../../shared');

/** The stories260K model directory, or undefined (with the reason printed) when absent. */
export function stories260kDir(): string | undefined {
  const dir = join(SHARED_DIR, 'models', 'stories260K');
  if (existsSync(join(dir, 'model.safetensors'))) return dir;
  console.warn(`skipping: ${dir} is absent`);
  return undefined;
}

/** Why the torch reference cannot run here, or undefined when it can. */
export function torchUnavailable(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  if (probe.status === 0) return undefined;
  const reason = `skipping: ${PYTHON} cannot import torch and numpy (${(probe.stderr || String(probe.error)).trim().split('\n').pop() ?? ''})`;
  console.warn(reason);
  return reason;
}

/** Runs the reference script and parses its JSON output. @throws Error with its stderr */
export function runReference<T>(args: readonly string[]): T {
  const run = spawnSync(PYTHON, [REFERENCE_SCRIPT, ...args], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (run.status !== 0) {
    throw new Error(`reference ${args[0] ?? ''} failed (${String(run.status)}): ${run.stderr}`);
  }
  return JSON.parse(run.stdout) as T;
}
