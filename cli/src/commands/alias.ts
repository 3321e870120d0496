import { reportFailure } from '../report-failure.js';
import { REGISTRY_FLAGS, registryClient } from './registry-connection.js';
import { REGISTRY_ENDPOINT, connectionOf, parseServiceCommand } from './service-connection.js';

/** One line for `lathe --help`. */
export const summary = 'point a model alias (e.g. prod) at a version, compare-and-set';

/** Every flag; printed by `lathe alias --help`. */
export const usage = `usage: lathe alias set NAME VERSION ALIAS [--expect V] [--reason TEXT]

Moves ALIAS of NAME to VERSION (0 removes it) only if it points where expected: by default
where it points now (read first), or --expect V (0: the alias must not exist). A concurrent
move in between fails with the version it now points at; nothing changes.

options:
  --expect V        the version ALIAS must point at now
  --reason TEXT     kept in the alias history
${REGISTRY_FLAGS}
  -h, --help        this help`;

/**
 * `lathe alias set`.
 *
 * @returns 0 moved, 1 refused (e.g. a concurrent move) or unreachable, 2 a usage error
 */
export async function run(argv: string[]): Promise<number> {
  const parsed = parseServiceCommand(
    REGISTRY_ENDPOINT,
    'alias',
    usage,
    argv,
    { expect: 'string', reason: 'string' },
    (words, args) => {
      if (words.length !== 4 || words[0] !== 'set' || !/^[0-9]+$/.test(words[2] ?? ''))
        throw new Error('expected: lathe alias set NAME VERSION ALIAS');
      args.integer('expect');
    },
  );
  if (typeof parsed === 'number') return parsed;
  const { words, args } = parsed;
  const [, name = '', versionText = '', alias = ''] = words;
  const client = registryClient(connectionOf(REGISTRY_ENDPOINT, args));
  try {
    let expected = args.integer('expect');
    if (expected === undefined) {
      const model = (
        await client.listModels({ kind: 0, namePrefix: name, labels: {}, page: undefined })
      ).models.find((m) => m.name === name);
      expected = model?.aliases[alias] ?? 0;
    }
    const { change } = await client.setAlias({
      name,
      alias,
      version: Number(versionText),
      expectedCurrentVersion: expected,
      reason: args.string('reason') ?? '',
    });
    process.stdout.write(
      `${name}@${alias}: ${String(change?.fromVersion ?? 0)} -> ${String(change?.toVersion ?? 0)}\n`,
    );
    return 0;
  } catch (err) {
    return reportFailure(err);
  } finally {
    client.close();
  }
}
