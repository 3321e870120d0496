// How the commands that talk to a running service (registry, datasets, preferences) parse their
// words and flags and find the service: one flag naming its address and --token, each falling
// back to environment variables, then to the service's local default.
import { CommandArgs, type FlagSpec } from '../command-args.js';

/** Where a command finds one service when its flags do not say. */
export interface ServiceEndpoint {
  /** The address flag without its dashes: `datasets` for `--datasets ADDR`. */
  readonly flag: string;
  /** Environment variable holding the address when the flag is absent. */
  readonly addressVariable: string;
  /** The address when neither is set: the service's default port on this machine. */
  readonly defaultAddress: string;
  /** Environment variables holding the token when --token is absent; the first set wins. */
  readonly tokenVariables: readonly string[];
}

/** The registry: `--registry`, `$LATHE_REGISTRY_ADDR`, `$LATHE_TOKEN`. */
export const REGISTRY_ENDPOINT: ServiceEndpoint = {
  flag: 'registry',
  addressVariable: 'LATHE_REGISTRY_ADDR',
  defaultAddress: '127.0.0.1:50065',
  tokenVariables: ['LATHE_TOKEN'],
};

/** The datasets service: `--datasets`, `$LATHE_DATASETS_ADDR`, `$LATHE_TOKEN`. */
export const DATASETS_ENDPOINT: ServiceEndpoint = {
  flag: 'datasets',
  addressVariable: 'LATHE_DATASETS_ADDR',
  defaultAddress: '127.0.0.1:50061',
  tokenVariables: ['LATHE_TOKEN'],
};

/**
 * The preferences service: `--preferences`, `$LATHE_PREFERENCES_ADDR`; its token (an admin
 * secret, an annotator token or a JWT) from `$LATHE_PREFERENCES_TOKEN`, else `$LATHE_TOKEN`.
 */
export const PREFERENCES_ENDPOINT: ServiceEndpoint = {
  flag: 'preferences',
  addressVariable: 'LATHE_PREFERENCES_ADDR',
  defaultAddress: '127.0.0.1:50062',
  tokenVariables: ['LATHE_PREFERENCES_TOKEN', 'LATHE_TOKEN'],
};

/** A service's address and the bearer token to send it (undefined: none). */
export interface ServiceConnection {
  readonly address: string;
  readonly token: string | undefined;
}

/** The address and token from the parsed flags, else the environment; an empty token is none. */
export function connectionOf(endpoint: ServiceEndpoint, args: CommandArgs): ServiceConnection {
  const address =
    args.string(endpoint.flag) ?? process.env[endpoint.addressVariable] ?? endpoint.defaultAddress;
  let token = args.string('token');
  for (const variable of endpoint.tokenVariables) token ??= process.env[variable];
  return { address, token: token === '' ? undefined : token };
}

/**
 * Splits `lathe <command> <positionals...> --flags...`: the leading words before the first
 * flag, and the rest for CommandArgs.
 */
export function splitPositionals(argv: readonly string[]): { words: string[]; flags: string[] } {
  const i = argv.findIndex((a) => a.startsWith('-'));
  return i === -1
    ? { words: [...argv], flags: [] }
    : { words: argv.slice(0, i), flags: argv.slice(i) };
}

/**
 * Parses `lathe <command> <words...> --flags` for a command talking to the service at
 * `endpoint` (its address flag and --token are added to `spec`): prints the usage on --help
 * (exit 0) and one usage error line on anything `check` or the flag parser refuses (exit 2);
 * otherwise returns the words and flags.
 */
export function parseServiceCommand(
  endpoint: ServiceEndpoint,
  command: string,
  usage: string,
  argv: readonly string[],
  spec: FlagSpec,
  check: (words: readonly string[], args: CommandArgs) => void,
): { words: string[]; args: CommandArgs } | number {
  const { words, flags } = splitPositionals(argv);
  try {
    const args = CommandArgs.parse(flags, { ...spec, [endpoint.flag]: 'string', token: 'string' });
    if (args === 'help') {
      process.stdout.write(`${usage}\n`);
      return 0;
    }
    check(words, args);
    return { words, args };
  } catch (err) {
    process.stderr.write(
      `lathe ${command}: ${(err as Error).message}\n(see lathe ${command} --help)\n`,
    );
    return 2;
  }
}
