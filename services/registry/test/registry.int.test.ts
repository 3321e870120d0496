import { randomBytes } from 'node:crypto';
import { cp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Metadata, status } from '@grpc/grpc-js';
import { connectJetStreamBus, type EventBus, type EventType } from '@lathe/bus';
import type { ModelVersionRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import { ModelKind, type ModelVersion } from '@lathe/contracts/lathe/registry/v1/model';
import {
  RegisterAdapterRequest,
  RegisterFineTunedModelRequest,
  RegisterMergedModelRequest,
  RegisterQuantizedModelRequest,
} from '@lathe/contracts/lathe/registry/v1/registry_service';
import { uniqueName } from '@lathe/testkit';
import {
  SeededRandom,
  createLoraConfig,
  createQuantConfig,
  quantizeModelDir,
  initLoraTensors,
  loadLlamaModel,
  saveLoraAdapter,
  train,
} from '@lathe/llm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadToDir, resumePointOf } from '../src/client/download-to-dir.js';
import { uploadModelDir } from '../src/client/upload-model-dir.js';
import {
  AdapterRegisteredEvent,
  AliasMovedEvent,
  ModelRegisteredEvent,
} from '../src/events/registry-events.js';
import { maxLogProbDifference } from '@lathe/llm/testing';
import {
  STORIES,
  STORIES_MISSING,
  startRegistryFixture,
  type RegistryFixture,
} from './registry-fixture.js';

if (STORIES_MISSING !== '') console.warn(`skipping registry integration tests: ${STORIES_MISSING}`);

const DATA = join(STORIES, '../../data/sft/alpaca_tiny.json');

async function sameFiles(a: string, b: string, paths: readonly string[]): Promise<void> {
  for (const p of paths)
    expect(Buffer.compare(await readFile(join(a, p)), await readFile(join(b, p))), p).toBe(0);
}

type AdapterFile = {
  path: string;
  artifact: { sha256: string; sizeBytes: number; mediaType: string; uri: string };
};

/** Puts a PEFT adapter's two files in the registry's artifact namespace, as a trainer does. */
async function storeAdapterFiles(fx: RegistryFixture, dir: string): Promise<AdapterFile[]> {
  const files: AdapterFile[] = [];
  for (const path of ['adapter_config.json', 'adapter_model.safetensors']) {
    const info = await fx.runtime.artifacts.put(await readFile(join(dir, path)));
    files.push({
      path,
      artifact: { sha256: info.sha256, sizeBytes: info.size, mediaType: '', uri: '' },
    });
  }
  return files;
}

/** Puts every file of a model directory in the registry's artifact namespace. */
async function storeFiles(fx: RegistryFixture, dir: string): Promise<AdapterFile[]> {
  const files: AdapterFile[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const path = relative(dir, join(e.parentPath, e.name));
    const info = await fx.runtime.artifacts.put(await readFile(join(dir, path)));
    files.push({
      path,
      artifact: { sha256: info.sha256, sizeBytes: info.size, mediaType: '', uri: '' },
    });
  }
  return files;
}

/** A RegisterAdapter request without training provenance. */
function plainAdapterRequest(
  name: string,
  base: ModelVersionRef,
  files: AdapterFile[],
): RegisterAdapterRequest {
  return RegisterAdapterRequest.fromPartial({ name, base, files });
}

describe.skipIf(STORIES_MISSING !== '')('registry on PostgreSQL, NATS and the object store', () => {
  let fx: RegistryFixture;
  let tmp: string;
  let events: EventBus;
  const seen: string[] = [];
  let base: ModelVersion;
  let adapter: ModelVersion;
  let adapterDir: string;

  beforeAll(async () => {
    fx = await startRegistryFixture([STORIES]);
    tmp = join(fx.workDir, 'client');
    await mkdir(tmp, { recursive: true });
    events = await connectJetStreamBus({ servers: fx.natsUrl, name: 'registry-test' });
    const record = async <T>(type: EventType<T>): Promise<void> => {
      await events.subscribe(
        type,
        (e) => {
          seen.push(`${type.subject} ${e.id}`);
          return Promise.resolve();
        },
        { durable: uniqueName('registry_test') },
      );
    };
    await record(ModelRegisteredEvent);
    await record(AdapterRegisteredEvent);
    await record(AliasMovedEvent);
  }, 120_000);
  afterAll(async () => {
    await events?.close();
    await fx?.close();
  }, 60_000);

  it('imports stories260K by client stream; the same bytes by path return the same version', async () => {
    const c = fx.client();
    const up = await uploadModelDir(c.channel, 'stories260k', STORIES, { chunkSize: 64 * 1024 });
    base = up.version!;
    expect(base.ref).toMatchObject({ name: 'stories260k', version: 1 });
    expect(base.ref!.manifestSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(base.kind).toBe(ModelKind.MODEL_KIND_BASE);
    expect(base.architecture).toMatchObject({
      modelType: 'llama',
      vocabSize: 512,
      dtype: 'float32',
    });
    expect(base.files.map((f) => f.path)).toContain('model.safetensors');
    const again = await c.importModelFromPath({
      name: 'stories260k',
      path: STORIES,
      description: '',
      labels: {},
    });
    expect(again.version!.ref).toEqual(base.ref);
    await expect
      .poll(() => seen.filter((s) => s.startsWith('lathe.registry.model_registered')).length)
      .toBe(1);
  }, 120_000);

  it('numbers concurrent registrations of the same bytes once', async () => {
    const c = fx.client();
    const request = {
      name: 'stories-twice',
      path: STORIES,
      description: 'twice',
      labels: { team: 'a' },
    };
    const [a, b] = await Promise.all([
      c.importModelFromPath(request),
      c.importModelFromPath(request),
    ]);
    expect(a.version!.ref).toEqual(b.version!.ref);
    expect(a.version!.ref!.version).toBe(1);
    const labelled = await c.listModels({
      kind: 0,
      namePrefix: '',
      labels: { team: 'a' },
      page: undefined,
    });
    expect(labelled.models.map((m) => [m.name, m.description])).toEqual([
      ['stories-twice', 'twice'],
    ]);
    const names: string[] = [];
    let token = '';
    do {
      const page = await c.listModels({
        kind: 0,
        namePrefix: '',
        labels: {},
        page: { pageSize: 1, pageToken: token },
      });
      names.push(...page.models.map((m) => m.name));
      token = page.page!.nextPageToken;
    } while (token !== '');
    expect(names).toEqual(['stories-twice', 'stories260k']); // one per page, by name
    const outside = await c
      .importModelFromPath({ ...request, path: '/etc' })
      .catch((e: unknown) => e);
    expect(outside).toMatchObject({ code: status.PERMISSION_DENIED });
  }, 60_000);

  it('refuses a truncated safetensors upload and shows no version', async () => {
    const c = fx.client();
    const err = await uploadModelDir(c.channel, 'truncated', STORIES, {
      truncateAfter: 100_000,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(String((err as Error).message)).toMatch(/truncated upload/);
    // A header-level truncation (declared size matches, content cut): validated by @lathe/llm.
    const bad = join(tmp, 'cut-model');
    await cp(STORIES, bad, { recursive: true });
    const st = await readFile(join(bad, 'model.safetensors'));
    await writeFile(join(bad, 'model.safetensors'), st.subarray(0, st.length - 1000));
    const err2 = await uploadModelDir(c.channel, 'truncated', bad).catch((e: unknown) => e);
    expect(err2).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(String((err2 as Error).message)).toMatch(/model\.safetensors/);
    expect(
      (await c.listModelVersions({ name: 'truncated', includeDeleted: true, page: undefined }))
        .versions,
    ).toEqual([]);
    expect(
      (await c.listModels({ kind: 0, namePrefix: 'trunc', labels: {}, page: undefined })).models,
    ).toEqual([]);
  }, 120_000);

  it('registers an adapter trained by the engine, with lineage and events; twice gives one version', async () => {
    const out = join(tmp, 'train');
    const result = await train({
      method: 'lora',
      modelDir: STORIES,
      dataPath: DATA,
      outDir: out,
      maxSteps: 3,
      batchSize: 2,
      seqLen: 64,
      lora: { r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'o_proj'] },
      checkpointEvery: 1000,
      seed: 7,
    });
    expect(result.status).toBe('completed');
    adapterDir = result.outputDir!;
    const c = fx.client();
    const files = await storeAdapterFiles(fx, adapterDir);
    const request = {
      name: 'support-bot',
      base: base.ref!,
      files,
      trainingJobId: 'job-1',
      dataset: { dataset: 'alpaca-tiny', version: 1, manifestSha256: '' },
      metrics: { train_loss: result.finalLoss },
      method: 'lora',
      description: 'three steps',
      labels: {},
      idempotencyKey: '',
      quantizedBase: undefined,
    };
    // The trainer's call carries its run's trace context; the registry records the trace id.
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const metadata = new Metadata();
    metadata.set('traceparent', `00-${traceId}-00f067aa0ba902b7-01`);
    adapter = (await c.registerAdapter(request, { metadata })).version!;
    const recorded = await fx.runtime.registry.resolve({ name: 'support-bot', version: 1 });
    expect(recorded.details.training?.traceId).toBe(traceId);
    expect(adapter.kind).toBe(ModelKind.MODEL_KIND_ADAPTER);
    expect(adapter.adapter).toMatchObject({ base: base.ref, r: 4, alpha: 8, method: 'lora' });
    expect(adapter.training).toMatchObject({
      jobId: 'job-1',
      metrics: { train_loss: result.finalLoss },
    });
    expect((await c.registerAdapter(request)).version!.ref).toEqual(adapter.ref);
    await expect
      .poll(() => seen.filter((s) => s.startsWith('lathe.registry.adapter_registered')).length)
      .toBe(1);
  }, 180_000);

  it('refuses an adapter whose shapes do not fit its base, naming the tensor, and records nothing', async () => {
    const model = await loadLlamaModel(STORIES);
    const lora = createLoraConfig({ r: 4, alpha: 8, targetModules: ['q_proj'] });
    const wrong = { ...model.config, hiddenSize: model.config.hiddenSize * 2 };
    const dir = join(tmp, 'wrong-adapter');
    await saveLoraAdapter(dir, {
      config: lora,
      baseModel: STORIES,
      tensors: initLoraTensors(wrong, lora, SeededRandom.fromSeed(1)),
    });
    const files = await storeAdapterFiles(fx, dir);
    const c = fx.client();
    const err = await c
      .registerAdapter(plainAdapterRequest('misfit', base.ref!, files))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect((err as { details: { errorInfo: { reason: string } } }).details.errorInfo.reason).toBe(
      'ADAPTER_BASE_MISMATCH',
    );
    expect(String((err as Error).message)).toMatch(/lora_A\.weight.*shape/);
    expect(
      (await c.listModelVersions({ name: 'misfit', includeDeleted: true, page: undefined }))
        .versions,
    ).toEqual([]);
  }, 60_000);

  it('pulls the adapter back byte-identical, and resumes a base download cut midway', async () => {
    const c = fx.client();
    const pulled = join(tmp, 'pulled-adapter');
    const v = await downloadToDir(
      c.channel,
      { name: 'support-bot', selector: { $case: 'version', version: 1 } },
      pulled,
    );
    expect(v.ref).toEqual(adapter.ref);
    await sameFiles(adapterDir, pulled, ['adapter_config.json', 'adapter_model.safetensors']);

    const dir = join(tmp, 'pulled-base');
    const ref = { name: 'stories260k', selector: { $case: 'version' as const, version: 1 } };
    let cutAt = 0;
    const cut = await downloadToDir(c.channel, ref, dir, {
      chunkSize: 16 * 1024,
      onChunk: (bytes, cancel) => {
        if (bytes >= 600_000 && cutAt === 0) {
          cutAt = bytes;
          cancel();
        }
      },
    }).catch((e: unknown) => e);
    expect(cut).toMatchObject({ code: status.CANCELLED });
    const resume = await resumePointOf(dir, base.files);
    expect(resume).toBeDefined();
    expect(resume!.offset).toBeGreaterThan(0); // the cut fell inside a file, so this is a true resume
    await downloadToDir(c.channel, ref, dir, { resume: resume!, chunkSize: 16 * 1024 });
    expect(await resumePointOf(dir, base.files)).toBeUndefined();
    await sameFiles(
      STORIES,
      dir,
      base.files.map((f) => f.path),
    );
  }, 120_000);

  it('merges the adapter into a new version whose logits equal base + adapter', async () => {
    const c = fx.client();
    const merged = (
      await c.mergeAdapter({
        adapter: { name: 'support-bot', selector: { $case: 'version', version: 1 } },
        outputName: 'support-bot-merged',
        dtype: '',
        outputAlias: 'latest',
        idempotencyKey: '',
      })
    ).version!;
    expect(merged.kind).toBe(ModelKind.MODEL_KIND_MERGED);
    expect(merged.aliases).toEqual(['latest']);
    const f16 = await c
      .mergeAdapter({
        adapter: { name: 'support-bot', selector: { $case: 'version', version: 1 } },
        outputName: '',
        dtype: 'float16',
        outputAlias: '',
        idempotencyKey: '',
      })
      .catch((e: unknown) => e);
    expect(f16).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(merged.merge).toMatchObject({ base: base.ref, adapter: adapter.ref });
    const dir = join(tmp, 'pulled-merged');
    await downloadToDir(
      c.channel,
      { name: 'support-bot-merged', selector: { $case: 'version', version: 1 } },
      dir,
    );
    const { maxDiff, adapterEffect } = await maxLogProbDifference(
      STORIES,
      adapterDir,
      dir,
      'Once upon a time, there was',
    );
    console.log(
      `merged vs base + adapter: max |Δ log p| = ${maxDiff.toExponential(2)}; adapter moves log p by up to ${adapterEffect.toExponential(2)}`,
    );
    expect(adapterEffect).toBeGreaterThan(1e-4);
    expect(maxDiff).toBeLessThan(1e-4);
  }, 180_000);

  it('refuses the adapter for a base whose chat template differs, saying what differs', async () => {
    const dir = join(tmp, 'stories-chat');
    await cp(STORIES, dir, { recursive: true });
    const tc = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8')) as object;
    await writeFile(
      join(dir, 'tokenizer_config.json'),
      JSON.stringify({
        ...tc,
        chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}',
      }),
    );
    const other = (await uploadModelDir(fx.client().channel, 'stories260k-chat', dir)).version!;
    const registry = fx.runtime.registry;
    const adapterRecord = await registry.resolve({ name: 'support-bot', version: 1 });
    const otherRecord = await registry.resolve({ name: other.ref!.name, version: 1 });
    const err = await registry.checkAdapterFor(adapterRecord, otherRecord).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: status.FAILED_PRECONDITION });
    expect(String((err as Error).message)).toMatch(
      /base files differ.*chat template differs \(base hashes to [0-9a-f]{12}…, adapter trained with none\)/,
    );
    await expect(
      registry.checkAdapterFor(
        adapterRecord,
        await registry.resolve({ name: 'stories260k', version: 1 }),
      ),
    ).resolves.toBeUndefined();
  }, 60_000);

  it('registers quantized, merged and fully fine-tuned versions with their lineage; QLoRA adapters record the quantization', async () => {
    const c = fx.client();
    const qdir = join(tmp, 'stories-nf4');
    await quantizeModelDir(
      STORIES,
      qdir,
      createQuantConfig({ scheme: 'nf4', blockSize: 64, doubleQuant: true }),
    );
    const qfiles = await storeFiles(fx, qdir);
    const quantRequest = RegisterQuantizedModelRequest.fromPartial({
      name: 'stories260k-nf4',
      source: base.ref!,
      files: qfiles,
      scheme: 'nf4',
      blockSize: 64,
      doubleQuant: true,
      quantizationJobId: 'q-1',
    });
    const wrongScheme = await c
      .registerQuantizedModel({ ...quantRequest, scheme: 'int8' })
      .catch((e: unknown) => e);
    expect(wrongScheme).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(String((wrongScheme as Error).message)).toMatch(
      /records scheme "nf4", the request says "int8"/,
    );
    const quantized = (await c.registerQuantizedModel(quantRequest)).version!;
    expect(quantized.kind).toBe(ModelKind.MODEL_KIND_QUANTIZED);
    expect(quantized.quantization).toMatchObject({
      source: base.ref,
      scheme: 'nf4',
      blockSize: 64,
      doubleQuant: true,
    });

    // A QLoRA adapter: trained on base, against the nf4 copy; valid with that copy only.
    const model = await loadLlamaModel(STORIES);
    const lora = createLoraConfig({ r: 2, alpha: 4, targetModules: ['q_proj'] });
    const qloraDir = join(tmp, 'qlora');
    await saveLoraAdapter(qloraDir, {
      config: lora,
      baseModel: STORIES,
      tensors: initLoraTensors(model.config, lora, SeededRandom.fromSeed(9)),
    });
    const qlora = (
      await c.registerAdapter(
        RegisterAdapterRequest.fromPartial({
          name: 'qlora-bot',
          base: base.ref!,
          quantizedBase: quantized.ref!,
          files: await storeAdapterFiles(fx, qloraDir),
        }),
      )
    ).version!;
    expect(qlora.adapter).toMatchObject({ method: 'qlora', quantizedBase: quantized.ref });
    const registry = fx.runtime.registry;
    const qloraRecord = await registry.resolve({ name: 'qlora-bot', version: 1 });
    await expect(
      registry.checkAdapterFor(
        qloraRecord,
        await registry.resolve({ name: 'stories260k-nf4', version: 1 }),
      ),
    ).resolves.toBeUndefined();
    await expect(
      registry.checkAdapterFor(
        qloraRecord,
        await registry.resolve({ name: 'stories260k', version: 1 }),
      ),
    ).rejects.toThrow(
      /quantization differs \(base is unquantized, adapter trained on nf4 \(block 64, double-quantized\)\)/,
    );

    const mergedDir = join(tmp, 'pulled-merged');
    const mergedByHand = (
      await c.registerMergedModel(
        RegisterMergedModelRequest.fromPartial({
          name: 'merged-by-hand',
          base: base.ref!,
          adapter: adapter.ref!,
          files: await storeFiles(fx, mergedDir),
          dtype: 'float32',
        }),
      )
    ).version!;
    expect(mergedByHand.merge).toMatchObject({
      base: base.ref,
      adapter: adapter.ref,
      dtype: 'float32',
    });

    const tuned = (
      await c.registerFineTunedModel(
        RegisterFineTunedModelRequest.fromPartial({
          name: 'stories-full',
          base: base.ref!,
          files: await storeFiles(fx, mergedDir),
          trainingJobId: 'full-1',
          metrics: { eval_loss: 1.5 },
        }),
      )
    ).version!;
    expect(tuned.kind).toBe(ModelKind.MODEL_KIND_BASE);
    expect(tuned.training).toMatchObject({ jobId: 'full-1', metrics: { eval_loss: 1.5 } });
    const misfit = await c
      .registerFineTunedModel(
        RegisterFineTunedModelRequest.fromPartial({
          name: 'stories-bad',
          base: base.ref!,
          files: (await storeFiles(fx, mergedDir)).filter((f) => f.path !== 'model.safetensors'),
        }),
      )
      .catch((e: unknown) => e);
    expect(misfit).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(String((misfit as Error).message)).toMatch(/no model\.safetensors/);
  }, 180_000);

  it('moves an alias with compare-and-set: of two concurrent moves exactly one wins', async () => {
    const model = await loadLlamaModel(STORIES);
    const lora = createLoraConfig({
      r: 4,
      alpha: 8,
      targetModules: ['q_proj', 'v_proj', 'o_proj'],
    });
    const tensors = initLoraTensors(model.config, lora, SeededRandom.fromSeed(3));
    const dir = join(tmp, 'adapter-2');
    await saveLoraAdapter(dir, { config: lora, baseModel: STORIES, tensors });
    const files = await storeAdapterFiles(fx, dir);
    const a = fx.client();
    const b = fx.client();
    const keyed = {
      ...plainAdapterRequest('support-bot', base.ref!, files),
      idempotencyKey: 'job-2',
    };
    const v2 = (await a.registerAdapter(keyed)).version!;
    expect(v2.ref!.version).toBe(2);
    // A trainer retrying with its key gets the same version; the key with other files is refused.
    expect((await a.registerAdapter(keyed)).version!.ref).toEqual(v2.ref);
    const reused = await a
      .registerAdapter({ ...keyed, files: await storeAdapterFiles(fx, adapterDir) })
      .catch((e: unknown) => e);
    expect(reused).toMatchObject({ code: status.ABORTED });
    expect(
      (reused as { details: { errorInfo: { reason: string } } }).details.errorInfo.reason,
    ).toBe('IDEMPOTENCY_KEY_REUSED');
    const results = await Promise.allSettled([
      a.setAlias({
        name: 'support-bot',
        alias: 'prod',
        version: 1,
        expectedCurrentVersion: 0,
        reason: 'a',
      }),
      b.setAlias({
        name: 'support-bot',
        alias: 'prod',
        version: 2,
        expectedCurrentVersion: 0,
        reason: 'b',
      }),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    const reason = (lost[0] as PromiseRejectedResult).reason as {
      code: number;
      details: { errorInfo: { reason: string } };
    };
    expect([status.ABORTED, status.FAILED_PRECONDITION]).toContain(reason.code);
    expect(reason.details.errorInfo.reason).toBe('ALIAS_CONFLICT');
    const history = await a.getAliasHistory({
      name: 'support-bot',
      alias: 'prod',
      page: undefined,
    });
    expect(history.changes).toHaveLength(1);
    expect(history.changes[0]).toMatchObject({ fromVersion: 0, actor: 'anonymous' });
    const winner = history.changes[0]!.toVersion;
    // A move that names the right current version succeeds; pulling by alias follows it.
    const other = winner === 1 ? 2 : 1;
    await a.setAlias({
      name: 'support-bot',
      alias: 'prod',
      version: other,
      expectedCurrentVersion: winner,
      reason: 'promote',
    });
    const got = await a.getModelVersion({
      ref: { name: 'support-bot', selector: { $case: 'alias', alias: 'prod' } },
      includeDeleted: false,
    });
    expect(got.version!.ref!.version).toBe(other);
    expect(got.version!.aliases).toEqual(['prod']);
    await expect
      .poll(() => seen.filter((s) => s.startsWith('lathe.registry.alias_moved')).length)
      .toBe(3); // support-bot-merged@latest by the merge, then the race winner and the promotion
  }, 120_000);

  it('deletes only unreferenced versions and collects unreferenced blobs', async () => {
    const c = fx.client();
    const inUse = await c
      .deleteModelVersion({ name: 'stories260k', version: 1, force: false, reason: '' })
      .catch((e: unknown) => e);
    expect(inUse).toMatchObject({ code: status.FAILED_PRECONDITION });
    expect(String((inUse as Error).message)).toMatch(/support-bot@1/);
    const stray = await fx.runtime.artifacts.put(randomBytes(4096));
    const before = await fx.runtime.registry.collectGarbage();
    expect(before.blobs).toBeGreaterThanOrEqual(1);
    expect(await fx.runtime.artifacts.has(stray.digest)).toBe(false);
    for (const f of base.files)
      expect(await fx.runtime.artifacts.has(`sha256:${f.artifact!.sha256}`)).toBe(true);
    const aliased = await c
      .deleteModelVersion({ name: 'support-bot-merged', version: 1, force: false, reason: 'done' })
      .catch((e: unknown) => e);
    expect(String((aliased as Error).message)).toMatch(/in use: alias latest/);
    const merged = await c.deleteModelVersion({
      name: 'support-bot-merged',
      version: 1,
      force: true,
      reason: 'done',
    });
    expect(merged.version!.state).toBe(2);
    expect(merged.version!.aliases).toEqual([]);
    await expect(
      c.getModelVersion({
        ref: { name: 'support-bot-merged', selector: { $case: 'version', version: 1 } },
        includeDeleted: false,
      }),
    ).rejects.toMatchObject({ code: status.NOT_FOUND });
    // The merged weights are also listed by two versions registered from the same files: they
    // stay until the last of them is deleted.
    expect((await fx.runtime.registry.collectGarbage()).bytes).toBe(0);
    for (const name of ['merged-by-hand', 'stories-full'])
      await c.deleteModelVersion({ name, version: 1, force: false, reason: 'done' });
    const after = await fx.runtime.registry.collectGarbage();
    expect(after.bytes).toBeGreaterThan(0);
    const again = await fx.runtime.registry.collectGarbage();
    expect(again).toEqual({ blobs: 0, bytes: 0 });
  }, 60_000);
});
