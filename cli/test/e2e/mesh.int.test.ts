// The whole main job end to end on the real servers: every service as its own process (from the
// sources) on NATS JetStream and a fresh PostgreSQL database, two trainer worker processes, and
// every step through gRPC only. All processes append their spans to one file (the telemetry
// file exporter); the run's trace must hold spans of every service.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelKind } from '@lathe/contracts/lathe/registry/v1/model';
import { LineageDirection } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { JobState } from '@lathe/contracts/lathe/training/v1/job';
import type { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';
import { Method } from '@lathe/contracts/lathe/training/v1/job_spec';
import type { SpanRecord } from '@lathe/telemetry';
import { createTestDatabase, startNats, type TestDatabase, type TestNats } from '@lathe/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRepoRoot, startLocalMesh, type LocalMesh } from '../../src/dev/local-mesh.js';
import {
  collectPreferences,
  importBaseModel,
  meshClients,
  newRunTrace,
  promptsOf,
  runTrainingJob,
  uploadAndCurate,
  type MeshClients,
} from '../../src/dev/main-job.js';

const root = findRepoRoot(fileURLToPath(new URL('.', import.meta.url)));
const shared = process.env['LATHE_SHARED_DIR'] ?? resolve(root, '..', 'shared');
const modelDir = join(shared, 'models', 'stories260K');
const dataFile = join(shared, 'data', 'sft', 'alpaca_tiny.json');
const haveShared = existsSync(join(modelDir, 'model.safetensors')) && existsSync(dataFile);

describe.skipIf(!haveShared)(
  `the mesh end to end on NATS and PostgreSQL (needs ${modelDir} and ${dataFile})`,
  () => {
    let nats: TestNats | undefined;
    let db: TestDatabase | undefined;
    let mesh: LocalMesh | undefined;
    let clients: MeshClients | undefined;
    const dir = mkdtempSync(join(tmpdir(), 'lathe-e2e-'));
    const tracesFile = join(dir, 'spans.jsonl');
    const adminToken = randomBytes(32).toString('hex');
    const trace = newRunTrace();

    beforeAll(async () => {
      nats = await startNats();
      db = await createTestDatabase();
      mesh = await startLocalMesh({
        root,
        basePort: 0,
        fromSource: true,
        stateDir: dir,
        servers: { natsUrl: nats.url, databaseUrl: db.url },
        traces: { exporter: 'file', file: tracesFile },
        workers: 2,
        startTimeoutMs: 600_000,
        serviceEnv: {
          preferences: {
            LATHE_AUTH_MODE: 'jwt',
            LATHE_JWT_SECRET: randomBytes(32).toString('hex'),
            LATHE_JWT_ISSUER: 'lathe-e2e',
            LATHE_PREFERENCES_ADMIN_TOKEN: adminToken,
          },
          worker: { LATHE_WORKER_THREADS: '1' },
        },
      });
      clients = meshClients(mesh.addresses, trace, adminToken);
    }, 900_000);

    afterAll(async () => {
      clients?.close();
      await mesh?.stop();
      await db?.close();
      await nats?.close();
      rmSync(dir, { recursive: true, force: true });
    }, 120_000);

    it('imports, curates, collects judgements, trains LoRA, DPO and QLoRA by jobs, registers with lineage, in one trace', async () => {
      if (clients === undefined) throw new Error('the mesh did not start');
      const c = clients;
      const base = await importBaseModel(c, 'e2e-base', modelDir);
      expect(base.reused).toBe(false);
      expect(base.ref.manifestSha256).toMatch(/^[0-9a-f]{64}$/);
      // The same files again give back the same version.
      expect((await importBaseModel(c, 'e2e-base', modelDir)).ref).toEqual(base.ref);

      const sft = await uploadAndCurate(c, 'e2e-sft', dataFile);
      expect(sft.reused).toBe(false);
      expect(sft.accepted).toBe(100);
      expect((await uploadAndCurate(c, 'e2e-sft', dataFile)).reused).toBe(true);

      const prefs = await collectPreferences(c, {
        modelDir,
        model: base.ref,
        prompts: await promptsOf(dataFile, 3),
        dataset: 'e2e-preferences',
        annotators: 2,
        maxNewTokens: 12,
        log: () => undefined,
      });
      expect(prefs.judgements).toBe(6);
      expect(prefs.pairs).toBeGreaterThan(0);

      const events: JobEvent[] = [];
      const lora = await runTrainingJob(c.training, {
        method: Method.METHOD_LORA,
        base: base.ref,
        dataset: sft.ref,
        maxSteps: 4,
        maxSeqLength: 64,
        learningRate: 3e-3,
        outputName: 'e2e-lora',
        onEvent: (e) => events.push(e),
      });
      expect(lora.job.state).toBe(JobState.JOB_STATE_SUCCEEDED);
      expect(events.some((e) => e.event?.$case === 'progress')).toBe(true);
      const adapter = lora.job.result;
      expect(adapter?.name).toBe('e2e-lora');

      const { version } = await c.registry.getModelVersion({
        ref: { name: 'e2e-lora', selector: { $case: 'version', version: adapter?.version ?? 0 } },
        includeDeleted: false,
      });
      expect(version?.kind).toBe(ModelKind.MODEL_KIND_ADAPTER);
      const { nodes } = await c.registry.getLineage({
        ref: { name: 'e2e-lora', selector: { $case: 'version', version: adapter?.version ?? 0 } },
        direction: LineageDirection.LINEAGE_DIRECTION_UPSTREAM,
        maxDepth: 0,
      });
      const upstream = nodes.map((n) => n.node);
      expect(upstream).toContainEqual({ $case: 'model', model: base.ref });
      expect(upstream).toContainEqual({ $case: 'dataset', dataset: sft.ref });

      const dpo = await runTrainingJob(c.training, {
        method: Method.METHOD_DPO,
        base: base.ref,
        dataset: prefs.ref,
        maxSteps: 2,
        maxSeqLength: 64,
        learningRate: 1e-3,
        outputName: 'e2e-dpo',
      });
      expect(dpo.job.state).toBe(JobState.JOB_STATE_SUCCEEDED);
      expect(dpo.job.result?.name).toBe('e2e-dpo');

      // QLoRA: the training service asks the quantization service for the NF4 base first.
      const qlora = await runTrainingJob(c.training, {
        method: Method.METHOD_QLORA,
        base: base.ref,
        dataset: sft.ref,
        maxSteps: 2,
        maxSeqLength: 64,
        learningRate: 3e-3,
        outputName: 'e2e-qlora',
      });
      expect(qlora.job.state).toBe(JobState.JOB_STATE_SUCCEEDED);
      expect(qlora.job.result?.name).toBe('e2e-qlora');

      // The file exporter writes each span as it ends; give the last ones a moment.
      await new Promise((r) => setTimeout(r, 1000));
      const spans = readFileSync(tracesFile, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as SpanRecord);
      const services = new Set(
        spans.filter((s) => s.traceId === trace.traceId).map((s) => s.serviceName),
      );
      for (const service of [
        'registry',
        'datasets',
        'preferences',
        'training',
        'training-worker',
        'quantization',
      ])
        expect([...services]).toContain(service);
      // The jobs' own trace ids are the run's.
      expect(lora.job.traceId).toBe(trace.traceId);
      expect(dpo.job.traceId).toBe(trace.traceId);
      expect(qlora.job.traceId).toBe(trace.traceId);
    }, 1_800_000);
  },
);
