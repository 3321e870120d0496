import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalArtifactStore } from '@lathe/artifacts';
import { RegisterAdapterRequest } from '@lathe/contracts/lathe/registry/v1/registry_service';
import {
  SeededRandom,
  createLoraConfig,
  initLoraTensors,
  loadLlamaModel,
  saveLoraAdapter,
} from '@lathe/llm';
import { spawnService, type SpawnedService } from '@lathe/service-kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runLathe } from '../../test/run-lathe.js';
import { registryClient } from './registry-connection.js';

const MODEL = join(REPO_ROOT, '../shared/models/stories260K');
const missing = existsSync(MODEL) ? '' : `shared model not found at ${MODEL}`;
if (missing !== '') console.warn(`skipping registry command tests: ${missing}`);

// The real registry process (embedded store, local artifacts, in-process events) and real
// `lathe` processes talking to it over gRPC.
describe.skipIf(missing !== '')(
  'lathe models / adapters / alias against a registry process',
  () => {
    let dir: string;
    let registry: SpawnedService;
    const flags = (): string[] => ['--registry', registry.address];

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'lathe-registry-cli-'));
      registry = await spawnService({
        entry: join(REPO_ROOT, 'services/registry/src/main.ts'),
        cwd: REPO_ROOT,
        startTimeoutMs: 60_000,
        env: {
          LATHE_AUTH_MODE: 'none',
          LATHE_REGISTRY_PORT: '0',
          LATHE_REGISTRY_STORE_URL: 'pglite:memory',
          LATHE_REGISTRY_ARTIFACTS: join(dir, 'artifacts'),
          LATHE_REGISTRY_WORK_DIR: join(dir, 'work'),
        },
      });
    }, 90_000);
    afterAll(async () => {
      await registry?.stop('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    });

    it('imports a model, aliases an adapter with compare-and-set, lists and pulls it', async () => {
      const imported = await runLathe(['models', 'import', MODEL, '--name', 'stories', ...flags()]);
      expect(imported.code, imported.stderr).toBe(0);
      expect(imported.stdout).toMatch(/^stories@1 sha256:[0-9a-f]{64} \(\d+ files/);

      // A trainer's part: the adapter's files go into the registry's artifact namespace, then
      // RegisterAdapter names them.
      const model = await loadLlamaModel(MODEL);
      const lora = createLoraConfig({ r: 2, alpha: 4, targetModules: ['q_proj'] });
      const adapterDir = join(dir, 'adapter');
      await saveLoraAdapter(adapterDir, {
        config: lora,
        baseModel: MODEL,
        tensors: initLoraTensors(model.config, lora, SeededRandom.fromSeed(5)),
      });
      const store = new LocalArtifactStore({ root: join(dir, 'artifacts'), namespace: 'registry' });
      const files = [];
      for (const path of ['adapter_config.json', 'adapter_model.safetensors']) {
        const info = await store.put(await readFile(join(adapterDir, path)));
        files.push({
          path,
          artifact: { sha256: info.sha256, sizeBytes: info.size, mediaType: '', uri: '' },
        });
      }
      const client = registryClient({ address: registry.address, token: undefined });
      const base = await client.getModelVersion({
        ref: { name: 'stories', selector: { $case: 'version', version: 1 } },
        includeDeleted: false,
      });
      await client.registerAdapter(
        RegisterAdapterRequest.fromPartial({ name: 'helper', base: base.version!.ref!, files }),
      );
      client.close();

      const set = await runLathe([
        'alias',
        'set',
        'helper',
        '1',
        'prod',
        '--reason',
        'first',
        ...flags(),
      ]);
      expect(set.code, set.stderr).toBe(0);
      expect(set.stdout).toBe('helper@prod: 0 -> 1\n');
      const stale = await runLathe([
        'alias',
        'set',
        'helper',
        '1',
        'prod',
        '--expect',
        '0',
        ...flags(),
      ]);
      expect(stale.code).toBe(1);
      expect(stale.stderr).toMatch(
        /alias "helper@prod" points at version 1, not the expected nothing/,
      );

      const list = await runLathe(['adapters', 'list', ...flags()]);
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toBe('helper\t1\tprod=1\n');

      // Another base (the same model plus one file, so another manifest) does not fit the adapter.
      const copy = join(dir, 'stories-copy');
      await cp(MODEL, copy, { recursive: true });
      await writeFile(join(copy, 'NOTES.md'), 'a copy\n');
      expect((await runLathe(['models', 'import', copy, '--name', 'copy', ...flags()])).code).toBe(
        0,
      );
      const misfit = await runLathe([
        'adapters',
        'pull',
        'helper@prod',
        '--out',
        join(dir, 'no'),
        '--base',
        'copy@1',
        ...flags(),
      ]);
      expect(misfit.code).toBe(1);
      expect(misfit.stderr).toMatch(
        /adapter helper@1 is not valid with copy@1: base files differ \(manifest [0-9a-f]{12}…, adapter trained on [0-9a-f]{12}…\)/,
      );
      expect(existsSync(join(dir, 'no'))).toBe(false);

      const out = join(dir, 'pulled');
      const pull = await runLathe([
        'adapters',
        'pull',
        'helper@prod',
        '--out',
        out,
        '--base',
        'stories@1',
        ...flags(),
      ]);
      expect(pull.code, pull.stderr).toBe(0);
      for (const path of ['adapter_config.json', 'adapter_model.safetensors'])
        expect(
          Buffer.compare(await readFile(join(out, path)), await readFile(join(adapterDir, path))),
          path,
        ).toBe(0);
    }, 180_000);

    it('prints usage errors with exit 2', async () => {
      const r = await runLathe(['adapters', 'pull', 'helper', '--out', dir]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/"helper" must be NAME@VERSION or NAME@ALIAS/);
    });
  },
);
