import { resolve } from 'node:path';
import { uploadModelDir } from '@lathe/registry';
import { reportFailure } from '../report-failure.js';
import { REGISTRY_FLAGS, registryClient } from './registry-connection.js';
import { REGISTRY_ENDPOINT, connectionOf, parseServiceCommand } from './service-connection.js';

/** One line for `lathe --help`. */
export const summary = 'import a Hugging Face model directory into the registry';

/** Every flag; printed by `lathe models --help`. */
export const usage = `usage: lathe models import DIR --name NAME [--description TEXT]

Uploads every file of DIR (config.json, safetensors shards, tokenizer files) to the registry,
which validates it and registers it as a new BASE version of NAME (or returns the existing
version holding the same bytes). Prints NAME@VERSION and the manifest sha256.

required:
  --name NAME       model name (lowercase letters, digits, '-' and '.')
options:
  --description T   free-form description
${REGISTRY_FLAGS}
  -h, --help        this help`;

/**
 * `lathe models import`.
 *
 * @returns 0 done, 1 refused by the registry or unreachable, 2 a usage error
 */
export async function run(argv: string[]): Promise<number> {
  const parsed = parseServiceCommand(
    REGISTRY_ENDPOINT,
    'models',
    usage,
    argv,
    { name: 'string', description: 'string' },
    (words, args) => {
      if (words.length !== 2 || words[0] !== 'import')
        throw new Error('expected: lathe models import DIR --name NAME');
      args.required('name');
    },
  );
  if (typeof parsed === 'number') return parsed;
  const { words, args } = parsed;
  const client = registryClient(connectionOf(REGISTRY_ENDPOINT, args));
  try {
    const dir = resolve(words[1] ?? '');
    const started = Date.now();
    const { version } = await uploadModelDir(client.channel, args.required('name'), dir, {
      description: args.string('description') ?? '',
    });
    const seconds = (Date.now() - started) / 1000;
    process.stdout.write(
      `${version?.ref?.name ?? ''}@${String(version?.ref?.version ?? 0)} sha256:${version?.ref?.manifestSha256 ?? ''} (${String(version?.files.length ?? 0)} files, ${String(version?.totalSizeBytes ?? 0)} bytes, ${seconds.toFixed(1)} s)\n`,
    );
    return 0;
  } catch (err) {
    return reportFailure(err);
  } finally {
    client.close();
  }
}
