import { QuantizationJobState } from '@lathe/contracts/lathe/quantization/v1/quantization_job';
import type { QuantConfig } from '@lathe/llm';
import {
  isUniqueViolation,
  loadMigrations,
  openStore,
  packageMigrationsDir,
  type SqlClient,
  type SqlError,
  type SqlValue,
  type StoreBackend,
} from '@lathe/store';
import type {
  JobFailure,
  JobFigures,
  QuantizationJobRecord,
  VersionRef,
} from '../domain/quantization-job.js';

/** The schema the service's tables live in. */
export const QUANTIZATION_SCHEMA = 'quantization';

const QUEUED = QuantizationJobState.QUANTIZATION_JOB_STATE_QUEUED;
const RUNNING = QuantizationJobState.QUANTIZATION_JOB_STATE_RUNNING;
const SUCCEEDED = QuantizationJobState.QUANTIZATION_JOB_STATE_SUCCEEDED;
const FAILED = QuantizationJobState.QUANTIZATION_JOB_STATE_FAILED;
const CANCELLED = QuantizationJobState.QUANTIZATION_JOB_STATE_CANCELLED;

interface JobRow {
  [key: string]: unknown;
  id: string;
  state: QuantizationJobState;
  source_name: string;
  source_version: number;
  source_sha256: string;
  spec: QuantConfig;
  cache_key: string;
  output_name: string;
  idempotency_key: string | null;
  request_sha256: string;
  trace_headers: Record<string, string>;
  tensors_done: number;
  tensors_total: number;
  result_name: string | null;
  result_version: number | null;
  result_sha256: string | null;
  bits_per_parameter: number | null;
  bytes_before: bigint | null;
  bytes_after: bigint | null;
  failure_reason: string | null;
  failure_message: string | null;
  create_time: Date;
  start_time: Date | null;
  end_time: Date | null;
}

// Every column but the report, which only GetQualityReport reads.
const COLUMNS = `id, state, source_name, source_version, source_sha256, spec, cache_key, output_name,
  idempotency_key, request_sha256, trace_headers, tensors_done, tensors_total, result_name,
  result_version, result_sha256, bits_per_parameter, bytes_before, bytes_after, failure_reason,
  failure_message, create_time, start_time, end_time`;

function toRecord(row: JobRow): QuantizationJobRecord {
  return {
    id: row.id,
    state: row.state,
    source: {
      name: row.source_name,
      version: row.source_version,
      manifestSha256: row.source_sha256,
    },
    config: row.spec,
    cacheKey: row.cache_key,
    outputName: row.output_name,
    idempotencyKey: row.idempotency_key ?? undefined,
    requestSha256: row.request_sha256,
    traceHeaders: row.trace_headers,
    tensorsDone: row.tensors_done,
    tensorsTotal: row.tensors_total,
    result:
      row.result_name === null || row.result_version === null || row.result_sha256 === null
        ? undefined
        : { name: row.result_name, version: row.result_version, manifestSha256: row.result_sha256 },
    figures:
      row.bits_per_parameter === null || row.bytes_before === null || row.bytes_after === null
        ? undefined
        : {
            bitsPerParameter: row.bits_per_parameter,
            bytesBefore: Number(row.bytes_before),
            bytesAfter: Number(row.bytes_after),
          },
    failure:
      row.failure_reason === null
        ? undefined
        : { reason: row.failure_reason, message: row.failure_message ?? '' },
    createTime: row.create_time,
    startTime: row.start_time ?? undefined,
    endTime: row.end_time ?? undefined,
  };
}

/** A job about to be accepted: what the request fixed; the rest starts empty. */
export type NewJob = Pick<
  QuantizationJobRecord,
  | 'id'
  | 'source'
  | 'config'
  | 'cacheKey'
  | 'outputName'
  | 'idempotencyKey'
  | 'requestSha256'
  | 'traceHeaders'
>;

/** Why {@link QuantizationStore.insert} refused a job. */
export type InsertConflict = 'idempotency-key' | 'live-job';

/** Filters of {@link QuantizationStore.list}. */
export interface JobFilter {
  /** Only these states; empty means all. */
  readonly states: readonly QuantizationJobState[];
  /** Only jobs of this source model; '' means all. */
  readonly sourceName: string;
}

/** Where a listing continues: after this job in newest-first order. */
export interface JobCursor {
  readonly createTime: Date;
  readonly id: string;
}

/**
 * Opens the service's metadata store on `backend` and applies its migrations (schema
 * `quantization`), for main.ts and tests; embedded hosts may open their own client on a shared
 * PGlite database with the same migrations.
 */
export async function openQuantizationStore(backend: StoreBackend): Promise<SqlClient> {
  const { client } = await openStore({
    backend,
    schema: QUANTIZATION_SCHEMA,
    migrations: await loadMigrations(packageMigrationsDir(import.meta.url)),
    applicationName: 'lathe-quantization',
  });
  return client;
}

/**
 * The jobs table. State changes are conditional on the state they leave (a cancelled job is
 * never turned into a success by a worker finishing late), and return the row as it now is.
 */
export class QuantizationStore {
  /**
   * @param owner this replica's name in leases (stable across its restarts, e.g. the host name)
   * @param leaseMs how long a claim or renewal holds a RUNNING job
   */
  constructor(
    private readonly sql: SqlClient,
    private readonly owner: string,
    private readonly leaseMs: number,
  ) {}

  /**
   * Records a QUEUED job. Returns the conflict instead when the idempotency key is taken or a
   * live job already has the cache key (the partial unique index decides races).
   */
  async insert(job: NewJob): Promise<QuantizationJobRecord | InsertConflict> {
    try {
      const { rows } = await this.sql.query<JobRow>(
        `INSERT INTO jobs (id, state, source_name, source_version, source_sha256, spec, cache_key,
           output_name, idempotency_key, request_sha256, trace_headers, create_time)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11::jsonb, $12)
         RETURNING ${COLUMNS}`,
        [
          job.id,
          QUEUED,
          job.source.name,
          job.source.version,
          job.source.manifestSha256,
          { ...job.config },
          job.cacheKey,
          job.outputName,
          job.idempotencyKey ?? null,
          job.requestSha256,
          { ...job.traceHeaders },
          // Millisecond precision, as page tokens carry it (a JS Date), so keyset paging is exact.
          new Date(),
        ],
      );
      return toRecord(rows[0]!);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      return (error as SqlError).constraint === 'jobs_one_live_per_key'
        ? 'live-job'
        : 'idempotency-key';
    }
  }

  /** One job, or undefined. */
  async get(id: string): Promise<QuantizationJobRecord | undefined> {
    return this.one(`SELECT ${COLUMNS} FROM jobs WHERE id = $1`, [id]);
  }

  /** The job first created with `key`, or undefined. */
  async byIdempotencyKey(key: string): Promise<QuantizationJobRecord | undefined> {
    return this.one(`SELECT ${COLUMNS} FROM jobs WHERE idempotency_key = $1`, [key]);
  }

  /** The newest SUCCEEDED job with `cacheKey`, or undefined. */
  async succeededFor(cacheKey: string): Promise<QuantizationJobRecord | undefined> {
    return this.one(
      `SELECT ${COLUMNS} FROM jobs WHERE cache_key = $1 AND state = $2
       ORDER BY end_time DESC LIMIT 1`,
      [cacheKey, SUCCEEDED],
    );
  }

  /** The QUEUED or RUNNING job with `cacheKey`, or undefined. */
  async liveFor(cacheKey: string): Promise<QuantizationJobRecord | undefined> {
    return this.one(`SELECT ${COLUMNS} FROM jobs WHERE cache_key = $1 AND state IN ($2, $3)`, [
      cacheKey,
      QUEUED,
      RUNNING,
    ]);
  }

  /** Up to `limit` jobs matching `filter`, newest first, after `cursor`. */
  async list(
    filter: JobFilter,
    cursor: JobCursor | undefined,
    limit: number,
  ): Promise<QuantizationJobRecord[]> {
    const params: SqlValue[] = [filter.states.map(Number), filter.sourceName];
    let after = '';
    if (cursor !== undefined) {
      params.push(cursor.createTime, cursor.id);
      after = 'AND (create_time, id) < ($3, $4)';
    }
    params.push(limit);
    const { rows } = await this.sql.query<JobRow>(
      `SELECT ${COLUMNS} FROM jobs
       WHERE (cardinality($1::smallint[]) = 0 OR state = ANY($1::smallint[]))
         AND ($2 = '' OR source_name = $2) ${after}
       ORDER BY create_time DESC, id DESC LIMIT $${String(params.length)}`,
      params,
    );
    return rows.map(toRecord);
  }

  /** How many jobs match `filter`. */
  async count(filter: JobFilter): Promise<number> {
    const { rows } = await this.sql.query<{ n: bigint }>(
      `SELECT count(*) AS n FROM jobs
       WHERE (cardinality($1::smallint[]) = 0 OR state = ANY($1::smallint[]))
         AND ($2 = '' OR source_name = $2)`,
      [filter.states.map(Number), filter.sourceName],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Takes the oldest QUEUED job, or a RUNNING one whose lease expired (its replica died): RUNNING
   * under this replica's lease from now on. Undefined when none is claimable.
   */
  async claimNext(): Promise<QuantizationJobRecord | undefined> {
    return this.one(
      `UPDATE jobs SET state = $1, start_time = now(), tensors_done = 0, lease_owner = $3,
         lease_expires_at = now() + $4 * interval '1 millisecond'
       WHERE id = (SELECT id FROM jobs
                   WHERE state = $2 OR (state = $1 AND lease_expires_at < now())
                   ORDER BY create_time, id LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING ${COLUMNS}`,
      [RUNNING, QUEUED, this.owner, this.leaseMs],
    );
  }

  /**
   * Extends this replica's lease on a RUNNING job. False when the job is no longer this
   * replica's to run (cancelled, or taken over after the lease expired): stop working on it.
   */
  async renew(id: string): Promise<boolean> {
    const { rowCount } = await this.sql.query(
      `UPDATE jobs SET lease_expires_at = now() + $3 * interval '1 millisecond'
       WHERE id = $1 AND state = $4 AND lease_owner = $2`,
      [id, this.owner, this.leaseMs, RUNNING],
    );
    return rowCount === 1;
  }

  /**
   * Puts the RUNNING jobs this replica held before it restarted back in the queue (run again at
   * once rather than after their leases expire); returns how many.
   */
  async requeueOwn(): Promise<number> {
    const { rowCount } = await this.sql.query(
      `UPDATE jobs SET state = $1, tensors_done = 0, start_time = NULL, lease_owner = NULL,
         lease_expires_at = NULL
       WHERE state = $2 AND lease_owner = $3`,
      [QUEUED, RUNNING, this.owner],
    );
    return rowCount;
  }

  /** Records progress of a RUNNING job this replica holds. */
  async progress(id: string, done: number, total: number): Promise<void> {
    await this.sql.query(
      `UPDATE jobs SET tensors_done = $2, tensors_total = $3
       WHERE id = $1 AND state = $4 AND lease_owner = $5`,
      [id, done, total, RUNNING, this.owner],
    );
  }

  /**
   * RUNNING (under this replica's lease) -> SUCCEEDED with its result and report; undefined if
   * it was cancelled or taken over meanwhile.
   */
  async succeed(
    id: string,
    result: VersionRef,
    figures: JobFigures,
    report: Uint8Array,
  ): Promise<QuantizationJobRecord | undefined> {
    return this.one(
      `UPDATE jobs SET state = $2, result_name = $3, result_version = $4, result_sha256 = $5,
         bits_per_parameter = $6, bytes_before = $7, bytes_after = $8, report = $9,
         tensors_done = tensors_total, end_time = now(), lease_expires_at = NULL
       WHERE id = $1 AND state = $10 AND lease_owner = $11
       RETURNING ${COLUMNS}`,
      [
        id,
        SUCCEEDED,
        result.name,
        result.version,
        result.manifestSha256,
        figures.bitsPerParameter,
        figures.bytesBefore,
        figures.bytesAfter,
        report,
        RUNNING,
        this.owner,
      ],
    );
  }

  /** RUNNING (under this replica's lease) -> FAILED; undefined if no longer this replica's. */
  async fail(id: string, failure: JobFailure): Promise<QuantizationJobRecord | undefined> {
    return this.one(
      `UPDATE jobs SET state = $2, failure_reason = $3, failure_message = $4, end_time = now(),
         lease_expires_at = NULL
       WHERE id = $1 AND state = $5 AND lease_owner = $6
       RETURNING ${COLUMNS}`,
      [id, FAILED, failure.reason, failure.message, RUNNING, this.owner],
    );
  }

  /** QUEUED or RUNNING -> CANCELLED; undefined if it had already ended. */
  async cancel(id: string): Promise<QuantizationJobRecord | undefined> {
    return this.one(
      `UPDATE jobs SET state = $2, end_time = now(), lease_expires_at = NULL
       WHERE id = $1 AND state IN ($3, $4)
       RETURNING ${COLUMNS}`,
      [id, CANCELLED, QUEUED, RUNNING],
    );
  }

  /** The protobuf-encoded quality report of a succeeded job, or undefined. */
  async report(id: string): Promise<Uint8Array | undefined> {
    const { rows } = await this.sql.query<{ report: Uint8Array | null }>(
      `SELECT report FROM jobs WHERE id = $1`,
      [id],
    );
    return rows[0]?.report ?? undefined;
  }

  private async one(
    sql: string,
    params: readonly SqlValue[],
  ): Promise<QuantizationJobRecord | undefined> {
    const { rows } = await this.sql.query<JobRow>(sql, params);
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }
}
