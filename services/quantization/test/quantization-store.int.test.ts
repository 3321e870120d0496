// The jobs table on real PostgreSQL and on PGlite: dedupe by cache key and idempotency key,
// leases between replicas (claim, renew, take-over, fencing), restart, cancel, paging order.
import { QuantizationJobState } from '@lathe/contracts/lathe/quantization/v1/quantization_job';
import { createQuantConfig } from '@lathe/llm';
import type { SqlClient, StoreBackend } from '@lathe/store';
import { createTestDatabase, type TestDatabase } from '@lathe/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openQuantizationStore,
  QuantizationStore,
  type NewJob,
} from '../src/store/quantization-store.js';

const { QUANTIZATION_JOB_STATE_QUEUED: QUEUED, QUANTIZATION_JOB_STATE_RUNNING: RUNNING } =
  QuantizationJobState;
const LEASE_MS = 600;
const source = { name: 'm', version: 1, manifestSha256: 'a'.repeat(64) };
const figures = { bitsPerParameter: 4.5, bytesBefore: 100, bytesAfter: 30 };
let n = 0;
const newJob = (over: Partial<NewJob> = {}): NewJob => ({
  id: `job-${String(++n)}`,
  source,
  config: createQuantConfig({ scheme: 'nf4' }),
  cacheKey: `key-${String(n)}`,
  outputName: 'm-nf4',
  idempotencyKey: undefined,
  requestSha256: 'r',
  traceHeaders: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
  ...over,
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function storeSuite(name: string, backend: () => Promise<StoreBackend>): void {
  describe(`the quantization store on ${name}`, () => {
    let sql: SqlClient;
    let a: QuantizationStore;
    let b: QuantizationStore;

    beforeAll(async () => {
      sql = await openQuantizationStore(await backend());
      a = new QuantizationStore(sql, 'replica-a', LEASE_MS);
      b = new QuantizationStore(sql, 'replica-b', LEASE_MS);
    }, 60_000);
    afterAll(() => sql?.close());

    it('keeps one live job per cache key and one job per idempotency key', async () => {
      const first = await a.insert(newJob({ cacheKey: 'shared', idempotencyKey: 'k1' }));
      expect(first).toMatchObject({
        state: QUEUED,
        source,
        traceHeaders: { traceparent: expect.any(String) as string },
      });
      expect(await b.insert(newJob({ cacheKey: 'shared' }))).toBe('live-job');
      expect(await b.insert(newJob({ idempotencyKey: 'k1' }))).toBe('idempotency-key');
      expect((await a.liveFor('shared'))?.id).toBe((first as { id: string }).id);
      expect((await a.byIdempotencyKey('k1'))?.id).toBe((first as { id: string }).id);
      // Once it ends, the key is free for a new job.
      expect(await a.cancel((first as { id: string }).id)).toMatchObject({
        state: QuantizationJobState.QUANTIZATION_JOB_STATE_CANCELLED,
      });
      expect(await b.insert(newJob({ cacheKey: 'shared' }))).toMatchObject({ state: QUEUED });
      expect(await a.cancel((first as { id: string }).id)).toBeUndefined();
    });

    it('hands a running job to another replica only after its lease expires, and fences the first', async () => {
      // Drain what earlier tests queued.
      for (let j = await a.claimNext(); j !== undefined; j = await a.claimNext())
        await a.cancel(j.id);
      const job = await a.insert(newJob());
      if (typeof job === 'string') throw new Error(job);
      expect((await a.claimNext())?.id).toBe(job.id);
      expect((await a.get(job.id))?.state).toBe(RUNNING);
      expect(await b.claimNext()).toBeUndefined();
      expect(await a.renew(job.id)).toBe(true);
      await sleep(LEASE_MS + 300);
      const taken = await b.claimNext();
      expect(taken?.id).toBe(job.id);
      expect(await a.renew(job.id)).toBe(false);
      const result = { name: 'm-nf4', version: 1, manifestSha256: 'b'.repeat(64) };
      expect(await a.succeed(job.id, result, figures, new Uint8Array([1]))).toBeUndefined();
      expect(await a.fail(job.id, { reason: 'INTERNAL', message: 'x' })).toBeUndefined();
      const done = await b.succeed(job.id, result, figures, new Uint8Array([1, 2, 3]));
      expect(done).toMatchObject({
        state: QuantizationJobState.QUANTIZATION_JOB_STATE_SUCCEEDED,
        result,
        figures,
      });
      expect([...((await b.report(job.id)) ?? [])]).toEqual([1, 2, 3]);
      expect((await b.succeededFor(job.cacheKey))?.id).toBe(job.id);
    });

    it('gives a restarted replica its own running jobs back at once, not the others', async () => {
      const mine = await a.insert(newJob());
      const theirs = await b.insert(newJob());
      if (typeof mine === 'string' || typeof theirs === 'string') throw new Error('conflict');
      expect((await a.claimNext())?.id).toBe(mine.id);
      expect((await b.claimNext())?.id).toBe(theirs.id);
      const restarted = new QuantizationStore(sql, 'replica-a', LEASE_MS);
      expect(await restarted.requeueOwn()).toBe(1);
      expect((await restarted.get(mine.id))?.state).toBe(QUEUED);
      expect((await restarted.get(theirs.id))?.state).toBe(RUNNING);
      expect((await restarted.claimNext())?.id).toBe(mine.id);
      // A cancelled job is no longer anyone's: renewal says so.
      await restarted.cancel(theirs.id);
      expect(await b.renew(theirs.id)).toBe(false);
      await restarted.cancel(mine.id);
    });

    it('lists newest first with a keyset cursor, filtered by state and source', async () => {
      const all = await a.list({ states: [], sourceName: '' }, undefined, 1000);
      expect(all.length).toBe(await a.count({ states: [], sourceName: '' }));
      const times = all.map((j) => j.createTime.getTime());
      expect([...times].sort((x, y) => y - x)).toEqual(times);
      const firstTwo = await a.list({ states: [], sourceName: '' }, undefined, 2);
      const last = firstTwo[1]!;
      const rest = await a.list(
        { states: [], sourceName: '' },
        { createTime: last.createTime, id: last.id },
        1000,
      );
      expect([...firstTwo, ...rest].map((j) => j.id)).toEqual(all.map((j) => j.id));
      const cancelled = await a.list(
        { states: [QuantizationJobState.QUANTIZATION_JOB_STATE_CANCELLED], sourceName: 'm' },
        undefined,
        1000,
      );
      expect(cancelled.length).toBeGreaterThan(0);
      expect(
        cancelled.every((j) => j.state === QuantizationJobState.QUANTIZATION_JOB_STATE_CANCELLED),
      ).toBe(true);
      expect(await a.count({ states: [], sourceName: 'other' })).toBe(0);
    });
  });
}

let db: TestDatabase | undefined;
afterAll(async () => db?.close());
storeSuite('PostgreSQL', async () => {
  db = await createTestDatabase();
  return { kind: 'postgres', url: db.url };
});
storeSuite('PGlite', () => Promise.resolve({ kind: 'pglite' }));
