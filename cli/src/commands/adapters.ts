import { resolve } from 'node:path';
import { ModelKind } from '@lathe/contracts/lathe/registry/v1/model';
import { adapterBaseDifferences, downloadToDir, resumePointOf } from '@lathe/registry';
import { reportFailure } from '../report-failure.js';
import { REGISTRY_FLAGS, parseModelRef, registryClient } from './registry-connection.js';
import { REGISTRY_ENDPOINT, connectionOf, parseServiceCommand } from './service-connection.js';

/** One line for `lathe --help`. */
export const summary = 'list registered LoRA adapters, or pull one into a directory';

/** Every flag; printed by `lathe adapters --help`. */
export const usage = `usage: lathe adapters list [--prefix P]
       lathe adapters pull NAME@VERSION|NAME@ALIAS --out DIR [--base NAME@VERSION|ALIAS]

list   one line per adapter model: name, latest version, aliases
pull   downloads the adapter's files into DIR, each checked against the sha256 the registry
       sends first; run it again after an interruption and it resumes where it stopped.

options:
  --prefix P        list only names starting with P
  --out DIR         where pull writes (created)
  --base REF        refuse (exit 1, saying what differs) unless the adapter fits this base:
                    its own base, or for QLoRA the quantized copy it was trained against
${REGISTRY_FLAGS}
  -h, --help        this help`;

/**
 * `lathe adapters list|pull`.
 *
 * @returns 0 done, 1 refused by the registry or unreachable, 2 a usage error
 */
export async function run(argv: string[]): Promise<number> {
  const parsed = parseServiceCommand(
    REGISTRY_ENDPOINT,
    'adapters',
    usage,
    argv,
    { prefix: 'string', out: 'string', base: 'string' },
    (words, args) => {
      if (words[0] === 'pull') {
        if (words.length !== 2)
          throw new Error('expected: lathe adapters pull NAME@ALIAS --out DIR');
        parseModelRef(words[1] ?? '');
        const base = args.string('base');
        if (base !== undefined) parseModelRef(base);
        args.required('out');
      } else if (words[0] !== 'list' || words.length !== 1)
        throw new Error('expected: lathe adapters list | lathe adapters pull NAME@ALIAS --out DIR');
    },
  );
  if (typeof parsed === 'number') return parsed;
  const { words, args } = parsed;
  const client = registryClient(connectionOf(REGISTRY_ENDPOINT, args));
  try {
    if (words[0] === 'list') {
      const { models } = await client.listModels({
        kind: ModelKind.MODEL_KIND_ADAPTER,
        namePrefix: args.string('prefix') ?? '',
        labels: {},
        page: undefined,
      });
      for (const m of models) {
        const aliases = Object.entries(m.aliases)
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([a, v]) => `${a}=${String(v)}`)
          .join(',');
        process.stdout.write(`${m.name}\t${String(m.latestVersion)}\t${aliases}\n`);
      }
      return 0;
    }
    const ref = parseModelRef(words[1] ?? '');
    const out = resolve(args.required('out'));
    // Resolve an alias once, so a resumed pull keeps fetching the same version.
    const { version } = await client.getModelVersion({ ref, includeDeleted: false });
    const baseText = args.string('base');
    if (baseText !== undefined && version !== undefined) {
      const base = await client.getModelVersion({
        ref: parseModelRef(baseText),
        includeDeleted: false,
      });
      const diffs = base.version === undefined ? [] : adapterBaseDifferences(version, base.version);
      if (diffs.length > 0)
        throw new Error(
          `adapter ${ref.name}@${String(version.ref?.version ?? 0)} is not valid with ${baseText}: ${diffs.join('; ')}`,
        );
    }
    const exact = {
      name: ref.name,
      selector: { $case: 'version' as const, version: version?.ref?.version ?? 0 },
    };
    const resume = await resumePointOf(out, version?.files ?? []);
    if (resume !== undefined || (version?.files.length ?? 0) === 0)
      await downloadToDir(client.channel, exact, out, resume === undefined ? {} : { resume });
    process.stdout.write(
      `${ref.name}@${String(version?.ref?.version ?? 0)} sha256:${version?.ref?.manifestSha256 ?? ''} -> ${out}\n`,
    );
    return 0;
  } catch (err) {
    return reportFailure(err);
  } finally {
    client.close();
  }
}
