/**
 * The value of `--<name>` in raw argv (`--name v` or `--name=v`), read before strict parsing so
 * a command can hand DPO runs to their own parser.
 */
export function rawFlag(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === `--${name}`) return argv[i + 1];
    if (a?.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

/** The DPO loss flags shared by `lathe train --method dpo` and `lathe grads --objective dpo`. */
export const DPO_LOSS_FLAGS = {
  beta: 'string',
  loss: 'string',
  'label-smoothing': 'string',
  reference: 'string',
} as const;
