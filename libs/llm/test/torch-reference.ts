import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Debian's Python, which has python3-torch (the pyenv python on PATH does not). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** The PyTorch reference script for `lathe grads`. */
export const LLAMA_REFERENCE = fileURLToPath(new URL('./llama-reference.py', import.meta.url));

/** Why PyTorch checks cannot run here, or '' when they can. */
export function torchUnavailable(): string {
  if (!existsSync(SYSTEM_PYTHON)) return `${SYSTEM_PYTHON} is absent`;
  const probe = spawnSync(SYSTEM_PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  return probe.status === 0
    ? ''
    : `import torch failed: ${(probe.stderr || '').trim().split('\n').pop() ?? ''}`;
}

/**
 * Runs the PyTorch reference: loss and gradients for a model dir, optional adapter dir and a
 * tokens file, written to `out` (safetensors, loss in the metadata).
 */
export function runTorchReference(args: {
  model: string;
  adapter?: string;
  tokens: string;
  out: string;
  /** A DPO spec file (see llama-reference.py): the loss is DPO's instead of the mean NLL. */
  dpo?: string;
}): void {
  const argv = [LLAMA_REFERENCE, '--model', args.model, '--tokens', args.tokens, '--out', args.out];
  if (args.adapter !== undefined) argv.push('--adapter', args.adapter);
  if (args.dpo !== undefined) argv.push('--dpo', args.dpo);
  const r = spawnSync(SYSTEM_PYTHON, argv, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`PyTorch reference failed (${r.status}): ${r.stderr}`);
}

/** ‖a − b‖ / ‖b‖ over all elements (0 when both are zero). */
export function relativeError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    diff += d * d;
    ref += (b[i] ?? 0) ** 2;
  }
  return ref === 0 ? Math.sqrt(diff) : Math.sqrt(diff / ref);
}
