import { CommandArgs } from '../command-args.js';
import { RegistryServiceService } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { createClient, type LatheClient } from '@lathe/service-kit';

/** The registry commands' shared flags, as their usage prints them. */
export const REGISTRY_FLAGS = `connection:
  --registry ADDR   registry address (default $LATHE_REGISTRY_ADDR, else 127.0.0.1:50065)
  --token JWT       bearer token (default $LATHE_TOKEN; none when unset)`;

/** Flag types of the connection flags, for CommandArgs.parse. */
export const REGISTRY_FLAG_TYPES = { registry: 'string', token: 'string' } as const;

/** A registry client from --registry / --token or their environment variables. */
export function registryClient(flags: {
  registry: string | undefined;
  token: string | undefined;
}): LatheClient<typeof RegistryServiceService> {
  const address = flags.registry ?? process.env['LATHE_REGISTRY_ADDR'] ?? '127.0.0.1:50065';
  const token = flags.token ?? process.env['LATHE_TOKEN'];
  return createClient(RegistryServiceService, address, {
    idempotent: ['getModelVersion', 'listModels', 'listModelVersions'],
    deadlineMs: 600_000,
    // HTTP/2's default 64 KiB stream window caps a download at one window per round trip.
    channelOptions: { 'grpc-node.flow_control_window': 32 * 1024 * 1024 },
    ...(token === undefined || token === '' ? {} : { token }),
  });
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

/** Parses `NAME@VERSION` or `NAME@ALIAS` into a ModelRef; a bare NAME is refused. */
export function parseModelRef(text: string): {
  name: string;
  selector: { $case: 'version'; version: number } | { $case: 'alias'; alias: string };
} {
  const at = text.lastIndexOf('@');
  if (at <= 0 || at === text.length - 1)
    throw new Error(`"${text}" must be NAME@VERSION or NAME@ALIAS`);
  const name = text.slice(0, at);
  const sel = text.slice(at + 1);
  return /^[0-9]+$/.test(sel)
    ? { name, selector: { $case: 'version', version: Number(sel) } }
    : { name, selector: { $case: 'alias', alias: sel } };
}

/**
 * Parses `lathe <command> <words...> --flags` for the registry commands: prints the usage on
 * --help (exit 0) and one usage error line on anything `check` or the flag parser refuses
 * (exit 2); otherwise returns the words and flags.
 */
export function parseRegistryCommand(
  command: string,
  usage: string,
  argv: readonly string[],
  spec: Readonly<Record<string, 'string' | 'boolean'>>,
  check: (words: readonly string[], args: CommandArgs) => void,
): { words: string[]; args: CommandArgs } | number {
  const { words, flags } = splitPositionals(argv);
  try {
    const args = CommandArgs.parse(flags, { ...spec, ...REGISTRY_FLAG_TYPES });
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
