// GetLineage over real gRPC, PostgreSQL and the NATS object store: a base, an nf4 copy of it and a
// QLoRA adapter trained against the copy, walked up, down and both ways.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { LineageRelation, type LineageNode } from '@lathe/contracts/lathe/registry/v1/lineage';
import { ModelKind, type ModelVersion } from '@lathe/contracts/lathe/registry/v1/model';
import {
  GetLineageRequest,
  LineageDirection,
  RegisterAdapterRequest,
  RegisterQuantizedModelRequest,
  type GetLineageResponse,
} from '@lathe/contracts/lathe/registry/v1/registry_service';
import {
  SeededRandom,
  createLoraConfig,
  createQuantConfig,
  initLoraTensors,
  loadLlamaModel,
  quantizeModelDir,
  saveLoraAdapter,
} from '@lathe/llm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  STORIES,
  STORIES_MISSING,
  startRegistryFixture,
  type RegistryFixture,
} from './registry-fixture.js';

if (STORIES_MISSING !== '') console.warn(`skipping registry lineage tests: ${STORIES_MISSING}`);

type StoredFile = {
  path: string;
  artifact: { sha256: string; sizeBytes: number; mediaType: string; uri: string };
};

/** Puts the named files of `dir` in the registry's artifact namespace, as a trainer does. */
async function store(fx: RegistryFixture, dir: string, paths: string[]): Promise<StoredFile[]> {
  const files: StoredFile[] = [];
  for (const path of paths) {
    const info = await fx.runtime.artifacts.put(await readFile(join(dir, path)));
    files.push({
      path,
      artifact: { sha256: info.sha256, sizeBytes: info.size, mediaType: '', uri: '' },
    });
  }
  return files;
}

/** A vertex as a short readable label: `name@version` or `dataset:name@version`. */
function label(n: LineageNode | undefined): string {
  const v = n?.node;
  if (v === undefined) return '?';
  return v.$case === 'model'
    ? `${v.model.name}@${String(v.model.version)}`
    : `dataset:${v.dataset.dataset}@${String(v.dataset.version)}`;
}

/** Edges as sorted `from -RELATION-> to` lines, so assertions do not depend on walk order. */
function edgeLines(g: GetLineageResponse): string[] {
  return g.edges
    .map(
      (e) =>
        `${label(g.nodes[e.fromIndex])} -${LineageRelation[e.relation]}-> ${label(g.nodes[e.toIndex])}`,
    )
    .sort();
}

const DATASET = { dataset: 'alpaca-tiny', version: 3, manifestSha256: 'a'.repeat(64) };

describe.skipIf(STORIES_MISSING !== '')('GetLineage', () => {
  let fx: RegistryFixture;
  let base: ModelVersion;
  let quantized: ModelVersion;
  let adapter: ModelVersion;

  beforeAll(async () => {
    fx = await startRegistryFixture([STORIES]);
    const c = fx.client();
    base = (
      await c.importModelFromPath({ name: 'stories', path: STORIES, description: '', labels: {} })
    ).version!;
    const qdir = join(fx.workDir, 'stories-nf4');
    await quantizeModelDir(
      STORIES,
      qdir,
      createQuantConfig({ scheme: 'nf4', blockSize: 64, doubleQuant: true }),
    );
    quantized = (
      await c.registerQuantizedModel(
        RegisterQuantizedModelRequest.fromPartial({
          name: 'stories-nf4',
          source: base.ref!,
          files: await store(fx, qdir, ['config.json', 'model.safetensors']),
          scheme: 'nf4',
          blockSize: 64,
          doubleQuant: true,
        }),
      )
    ).version!;
    const model = await loadLlamaModel(STORIES);
    const lora = createLoraConfig({ r: 2, alpha: 4, targetModules: ['q_proj'] });
    const adir = join(fx.workDir, 'qlora');
    await saveLoraAdapter(adir, {
      config: lora,
      baseModel: STORIES,
      tensors: initLoraTensors(model.config, lora, SeededRandom.fromSeed(5)),
    });
    adapter = (
      await c.registerAdapter(
        RegisterAdapterRequest.fromPartial({
          name: 'qlora-bot',
          base: base.ref!,
          quantizedBase: quantized.ref!,
          files: await store(fx, adir, ['adapter_config.json', 'adapter_model.safetensors']),
          trainingJobId: 'job-42',
          dataset: DATASET,
          metrics: { train_loss: 2.5 },
        }),
      )
    ).version!;
  }, 180_000);
  afterAll(async () => {
    await fx?.close();
  }, 60_000);

  it('walks upstream from the adapter to the quantized base, its source and the dataset', async () => {
    const g = await fx.client().getLineage(
      GetLineageRequest.fromPartial({
        ref: { name: 'qlora-bot', selector: { $case: 'version', version: 1 } },
        direction: LineageDirection.LINEAGE_DIRECTION_UPSTREAM,
      }),
    );
    expect(label(g.nodes[0])).toBe('qlora-bot@1');
    expect(g.nodes[0]).toMatchObject({ kind: ModelKind.MODEL_KIND_ADAPTER, deleted: false });
    expect(g.nodes.map(label).sort()).toEqual([
      'dataset:alpaca-tiny@3',
      'qlora-bot@1',
      'stories-nf4@1',
      'stories@1',
    ]);
    expect(edgeLines(g)).toEqual([
      'dataset:alpaca-tiny@3 -LINEAGE_RELATION_TRAINED_ON-> qlora-bot@1',
      'stories-nf4@1 -LINEAGE_RELATION_ADAPTER_OF-> qlora-bot@1',
      'stories@1 -LINEAGE_RELATION_ADAPTER_OF-> qlora-bot@1',
      'stories@1 -LINEAGE_RELATION_QUANTIZED_FROM-> stories-nf4@1',
    ]);
    const nf4 = g.nodes.find((n) => label(n) === 'stories-nf4@1');
    expect(nf4?.node).toEqual({ $case: 'model', model: quantized.ref });
    expect(nf4?.kind).toBe(ModelKind.MODEL_KIND_QUANTIZED);
    const ds = g.nodes.find((n) => n.node?.$case === 'dataset');
    expect(ds?.node).toEqual({ $case: 'dataset', dataset: DATASET });
    // The job and metrics the lineage graph has no field for are on the adapter's version.
    expect(adapter.training).toMatchObject({ jobId: 'job-42', metrics: { train_loss: 2.5 } });
  });

  it('walks downstream from the base, and max_depth stops the walk', async () => {
    const c = fx.client();
    const down = await c.getLineage(
      GetLineageRequest.fromPartial({
        ref: { name: 'stories', selector: { $case: 'version', version: 1 } },
        direction: LineageDirection.LINEAGE_DIRECTION_DOWNSTREAM,
      }),
    );
    expect(label(down.nodes[0])).toBe('stories@1');
    expect(edgeLines(down)).toEqual([
      'stories-nf4@1 -LINEAGE_RELATION_ADAPTER_OF-> qlora-bot@1',
      'stories@1 -LINEAGE_RELATION_ADAPTER_OF-> qlora-bot@1',
      'stories@1 -LINEAGE_RELATION_QUANTIZED_FROM-> stories-nf4@1',
    ]);
    const upOne = await c.getLineage(
      GetLineageRequest.fromPartial({
        ref: { name: 'stories-nf4', selector: { $case: 'version', version: 1 } },
        direction: LineageDirection.LINEAGE_DIRECTION_UPSTREAM,
        maxDepth: 1,
      }),
    );
    expect(edgeLines(upOne)).toEqual([
      'stories@1 -LINEAGE_RELATION_QUANTIZED_FROM-> stories-nf4@1',
    ]);
    const depthOne = await c.getLineage(
      GetLineageRequest.fromPartial({
        ref: { name: 'qlora-bot', selector: { $case: 'version', version: 1 } },
        maxDepth: 1,
      }),
    );
    // One edge from the adapter: its two bases and the dataset, not the base's own origin.
    expect(edgeLines(depthOne)).not.toContain(
      'stories@1 -LINEAGE_RELATION_QUANTIZED_FROM-> stories-nf4@1',
    );
    expect(edgeLines(depthOne)).toHaveLength(3);
  });

  it('walks both ways from the middle by default, without siblings', async () => {
    const g = await fx.client().getLineage(
      GetLineageRequest.fromPartial({
        ref: { name: 'stories-nf4', selector: { $case: 'version', version: 1 } },
      }),
    );
    expect(label(g.nodes[0])).toBe('stories-nf4@1');
    // Upstream: the source; downstream: the adapter. The adapter's other base edge and its
    // dataset are relatives of the adapter, not of the nf4 copy.
    expect(edgeLines(g)).toEqual([
      'stories-nf4@1 -LINEAGE_RELATION_ADAPTER_OF-> qlora-bot@1',
      'stories@1 -LINEAGE_RELATION_QUANTIZED_FROM-> stories-nf4@1',
    ]);
  });

  it('answers NOT_FOUND naming an unknown version, and INVALID_ARGUMENT for a malformed request', async () => {
    const c = fx.client();
    const missing = await c
      .getLineage(
        GetLineageRequest.fromPartial({
          ref: { name: 'qlora-bot', selector: { $case: 'version', version: 9 } },
        }),
      )
      .catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: status.NOT_FOUND });
    expect(String((missing as Error).message)).toMatch(/qlora-bot@9/);
    const bad = await c
      .getLineage(
        GetLineageRequest.fromPartial({
          ref: { name: 'qlora-bot', selector: { $case: 'version', version: 1 } },
          maxDepth: -2,
          direction: 7 as LineageDirection,
        }),
      )
      .catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(String((bad as Error).message)).toMatch(/maxDepth/);
    expect(String((bad as Error).message)).toMatch(/direction/);
  });
});
