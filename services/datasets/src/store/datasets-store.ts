import type { DatasetKind } from '@lathe/contracts/lathe/datasets/v1/dataset';
import type { SqlClient, SqlExecutor } from '@lathe/store';
import { isUniqueViolation } from '@lathe/store';

/** A dataset row with its derived figures. */
export interface DatasetRow {
  readonly id: bigint;
  readonly name: string;
  readonly kind: DatasetKind;
  readonly description: string;
  readonly labels: Record<string, string>;
  readonly createdAt: Date;
  readonly latestVersion: number;
  readonly stagedRecordCount: number;
}

/** An upload row. */
export interface UploadRow {
  readonly id: string;
  readonly seq: bigint;
  readonly dataset: string;
  readonly requestedFormat: number;
  readonly detectedFormat: number;
  readonly acceptedCount: number;
  readonly rejectedCount: number;
  readonly rawSha256: string;
  readonly rawSize: number;
  readonly sourceName: string;
  readonly createdAt: Date;
  readonly curatedInVersion: number;
}

/** A staged record as stored: canonical JSON plus provenance. */
export interface StagedRow {
  readonly uploadId: string;
  readonly line: number;
  readonly recordId: string;
  readonly content: string;
  /** The line's metadata as JSON with sorted keys; '' when it had none. */
  readonly metadata: string;
}

/** A version row. */
export interface VersionRow {
  readonly datasetId: bigint;
  readonly version: number;
  readonly manifestSha256: string;
  readonly manifestSize: number;
  readonly trainSha256: string;
  readonly trainSize: number;
  readonly evalSha256: string;
  readonly evalSize: number;
  readonly trainCount: number;
  readonly evalCount: number;
  readonly removedCount: number;
  readonly baseVersion: number;
  readonly uploadIds: string[];
  readonly description: string;
  readonly spec: Uint8Array;
  readonly stats: Uint8Array;
  readonly createdAt: Date;
}

/** A removed record as stored. */
export interface RemovedRow {
  readonly seq: number;
  readonly recordId: string;
  readonly reason: number;
  readonly detail: string;
  readonly duplicateOf: string;
  readonly similarity: number;
  readonly uploadId: string;
  readonly sourceLine: number;
  readonly excerpt: string;
}

/** A version to record, everything but its number. */
export type NewVersion = Omit<VersionRow, 'version' | 'createdAt'> & {
  readonly idempotencyKey: string | undefined;
  /** Read once, inside the transaction, in batches (a run may remove millions of records). */
  readonly removed: Iterable<Omit<RemovedRow, 'seq'>> | AsyncIterable<Omit<RemovedRow, 'seq'>>;
};

const DATASET_COLUMNS = `d.id, d.name, d.kind, d.description, d.labels, d.created_at,
  COALESCE((SELECT max(version) FROM versions v WHERE v.dataset_id = d.id), 0) AS latest_version,
  COALESCE((SELECT sum(accepted_count) FROM uploads u
            WHERE u.dataset_id = d.id AND u.state = 'staged' AND u.curated_in_version = 0), 0) AS staged`;

function datasetRow(r: Record<string, unknown>): DatasetRow {
  return {
    id: r['id'] as bigint,
    name: r['name'] as string,
    kind: r['kind'] as DatasetKind,
    description: r['description'] as string,
    labels: r['labels'] as Record<string, string>,
    createdAt: r['created_at'] as Date,
    latestVersion: Number(r['latest_version']),
    stagedRecordCount: Number(r['staged']),
  };
}

const UPLOAD_COLUMNS = `u.id, u.seq, d.name AS dataset, u.requested_format, u.detected_format,
  u.accepted_count, u.rejected_count, u.raw_sha256, u.raw_size, u.source_name, u.created_at,
  u.curated_in_version`;

function uploadRow(r: Record<string, unknown>): UploadRow {
  return {
    id: r['id'] as string,
    seq: r['seq'] as bigint,
    dataset: r['dataset'] as string,
    requestedFormat: r['requested_format'] as number,
    detectedFormat: r['detected_format'] as number,
    acceptedCount: Number(r['accepted_count']),
    rejectedCount: Number(r['rejected_count']),
    rawSha256: r['raw_sha256'] as string,
    rawSize: Number(r['raw_size']),
    sourceName: r['source_name'] as string,
    createdAt: r['created_at'] as Date,
    curatedInVersion: r['curated_in_version'] as number,
  };
}

function versionRow(r: Record<string, unknown>): VersionRow {
  return {
    datasetId: r['dataset_id'] as bigint,
    version: r['version'] as number,
    manifestSha256: r['manifest_sha256'] as string,
    manifestSize: Number(r['manifest_size']),
    trainSha256: r['train_sha256'] as string,
    trainSize: Number(r['train_size']),
    evalSha256: r['eval_sha256'] as string,
    evalSize: Number(r['eval_size']),
    trainCount: Number(r['train_count']),
    evalCount: Number(r['eval_count']),
    removedCount: Number(r['removed_count']),
    baseVersion: r['base_version'] as number,
    uploadIds: r['upload_ids'] as string[],
    description: r['description'] as string,
    spec: r['spec'] as Uint8Array,
    stats: r['stats'] as Uint8Array,
    createdAt: r['created_at'] as Date,
  };
}

/** Some uploads of a new version were included in another version meanwhile. */
export class UploadsTakenError extends Error {
  constructor(readonly uploadIds: readonly string[]) {
    super(`uploads ${uploadIds.join(', ')} were curated into another version concurrently`);
    this.name = 'UploadsTakenError';
  }
}

/** The datasets service's schema: every SQL statement of the service lives here. */
export class DatasetsStore {
  constructor(private readonly sql: SqlClient) {}

  /** Creates a dataset; undefined when the name is taken. */
  async createDataset(
    name: string,
    kind: DatasetKind,
    description: string,
    labels: Record<string, string>,
  ): Promise<DatasetRow | undefined> {
    try {
      await this.sql.query(
        'INSERT INTO datasets (name, kind, description, labels) VALUES ($1, $2, $3, $4::jsonb)',
        [name, kind, description, labels],
      );
    } catch (error) {
      if (isUniqueViolation(error)) return undefined;
      throw error;
    }
    return this.getDataset(name);
  }

  /** One dataset by name. */
  async getDataset(name: string): Promise<DatasetRow | undefined> {
    const { rows } = await this.sql.query(
      `SELECT ${DATASET_COLUMNS} FROM datasets d WHERE d.name = $1`,
      [name],
    );
    return rows[0] === undefined ? undefined : datasetRow(rows[0]);
  }

  /** Datasets after `afterName` by name; `kind` 0 means every kind. */
  async listDatasets(afterName: string, limit: number, kind: number): Promise<DatasetRow[]> {
    const { rows } = await this.sql.query(
      `SELECT ${DATASET_COLUMNS} FROM datasets d WHERE d.name > $1 AND ($2 = 0 OR d.kind = $2)
       ORDER BY d.name LIMIT $3`,
      [afterName, kind, limit],
    );
    return rows.map(datasetRow);
  }

  /** Opens an upload in state `receiving`: its records stay invisible until it completes. */
  async beginUpload(
    id: string,
    datasetId: bigint,
    format: number,
    sourceName: string,
  ): Promise<void> {
    await this.sql.query(
      `INSERT INTO uploads (id, dataset_id, state, requested_format, source_name) VALUES ($1, $2, 'receiving', $3, $4)`,
      [id, datasetId, format, sourceName],
    );
  }

  /** Stages a batch of accepted records of a receiving upload. */
  async stageRecords(
    uploadId: string,
    batch: readonly Omit<StagedRow, 'uploadId'>[],
  ): Promise<void> {
    await this.sql.query(
      `INSERT INTO staged_records (upload_id, line, record_id, content, metadata)
       SELECT $1, unnest($2::bigint[]), unnest($3::text[]), unnest($4::text[]), unnest($5::text[])`,
      [
        uploadId,
        batch.map((r) => r.line),
        batch.map((r) => r.recordId),
        batch.map((r) => r.content),
        batch.map((r) => r.metadata),
      ],
    );
  }

  /** Completes an upload: its counts are recorded and its records become curatable. */
  async completeUpload(
    id: string,
    done: {
      detectedFormat: number;
      accepted: number;
      rejected: number;
      rawSha256: string;
      rawSize: number;
    },
  ): Promise<UploadRow> {
    await this.sql.query(
      `UPDATE uploads SET state = 'staged', detected_format = $2, accepted_count = $3,
         rejected_count = $4, raw_sha256 = $5, raw_size = $6 WHERE id = $1`,
      [id, done.detectedFormat, done.accepted, done.rejected, done.rawSha256, done.rawSize],
    );
    const upload = await this.getUpload(id);
    if (upload === undefined) throw new Error(`upload ${id} vanished while completing`);
    return upload;
  }

  /** Removes an upload that failed, with anything it staged. */
  async abandonUpload(id: string): Promise<void> {
    await this.sql.query('DELETE FROM uploads WHERE id = $1', [id]);
  }

  /** One upload. */
  async getUpload(id: string): Promise<UploadRow | undefined> {
    const { rows } = await this.sql.query(
      `SELECT ${UPLOAD_COLUMNS} FROM uploads u JOIN datasets d ON d.id = u.dataset_id WHERE u.id = $1`,
      [id],
    );
    return rows[0] === undefined ? undefined : uploadRow(rows[0]);
  }

  /** Completed uploads of a dataset not yet in any version, in upload order. */
  async pendingUploads(datasetId: bigint): Promise<UploadRow[]> {
    const { rows } = await this.sql.query(
      `SELECT ${UPLOAD_COLUMNS} FROM uploads u JOIN datasets d ON d.id = u.dataset_id
       WHERE u.dataset_id = $1 AND u.state = 'staged' AND u.curated_in_version = 0 ORDER BY u.seq`,
      [datasetId],
    );
    return rows.map(uploadRow);
  }

  /** Staged records of the given uploads in upload then line order, read in pages. */
  async *readStaged(uploads: readonly UploadRow[], pageSize = 2000): AsyncGenerator<StagedRow> {
    for (const upload of [...uploads].sort((a, b) => (a.seq < b.seq ? -1 : 1))) {
      let after = 0;
      for (;;) {
        const { rows } = await this.sql.query(
          `SELECT line, record_id, content, metadata FROM staged_records WHERE upload_id = $1 AND line > $2
           ORDER BY line LIMIT $3`,
          [upload.id, after, pageSize],
        );
        for (const r of rows) {
          after = Number(r['line']);
          yield {
            uploadId: upload.id,
            line: after,
            recordId: r['record_id'] as string,
            content: r['content'] as string,
            metadata: r['metadata'] as string,
          };
        }
        if (rows.length < pageSize) break;
      }
    }
  }

  /** The version an idempotency key produced, if any. */
  async versionByKey(datasetId: bigint, key: string): Promise<VersionRow | undefined> {
    const { rows } = await this.sql.query(
      'SELECT * FROM versions WHERE dataset_id = $1 AND idempotency_key = $2',
      [datasetId, key],
    );
    return rows[0] === undefined ? undefined : versionRow(rows[0]);
  }

  /**
   * Records a new version under the next number, marks its uploads as curated and stores its
   * removals, all in one transaction: either the version exists completely or not at all.
   */
  async insertVersion(v: NewVersion): Promise<VersionRow> {
    return this.sql.transaction(async (tx) => {
      await tx.query('SELECT id FROM datasets WHERE id = $1 FOR UPDATE', [v.datasetId]);
      const { rows } = await tx.query(
        `INSERT INTO versions (dataset_id, version, manifest_sha256, manifest_size, train_sha256,
           train_size, eval_sha256, eval_size, train_count, eval_count, removed_count, base_version,
           upload_ids, description, spec, stats, idempotency_key)
         SELECT $1, COALESCE(max(version), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
           $12::text[], $13, $14, $15, $16 FROM versions WHERE dataset_id = $1
         RETURNING *`,
        [
          v.datasetId,
          v.manifestSha256,
          v.manifestSize,
          v.trainSha256,
          v.trainSize,
          v.evalSha256,
          v.evalSize,
          v.trainCount,
          v.evalCount,
          v.removedCount,
          v.baseVersion,
          v.uploadIds,
          v.description,
          v.spec,
          v.stats,
          v.idempotencyKey ?? null,
        ],
      );
      const row = rows[0];
      if (row === undefined) throw new Error('inserting a version returned no row');
      const created = versionRow(row);
      // Only uploads still waiting: a concurrent curation that took them first wins, and this
      // transaction rolls back instead of putting the same records in two versions.
      const taken = await tx.query(
        'UPDATE uploads SET curated_in_version = $1 WHERE id = ANY($2::text[]) AND curated_in_version = 0',
        [created.version, v.uploadIds],
      );
      if (taken.rowCount !== v.uploadIds.length) throw new UploadsTakenError(v.uploadIds);
      await insertRemoved(tx, v.datasetId, created.version, v.removed);
      return created;
    });
  }

  /** One version; `version` 0 means the latest. */
  async getVersion(datasetId: bigint, version: number): Promise<VersionRow | undefined> {
    const { rows } = await this.sql.query(
      version === 0
        ? 'SELECT * FROM versions WHERE dataset_id = $1 ORDER BY version DESC LIMIT 1'
        : 'SELECT * FROM versions WHERE dataset_id = $1 AND version = $2',
      version === 0 ? [datasetId] : [datasetId, version],
    );
    return rows[0] === undefined ? undefined : versionRow(rows[0]);
  }

  /** Versions newest first, below `beforeVersion` (0: from the newest). */
  async listVersions(
    datasetId: bigint,
    beforeVersion: number,
    limit: number,
  ): Promise<VersionRow[]> {
    const { rows } = await this.sql.query(
      `SELECT * FROM versions WHERE dataset_id = $1 AND ($2 = 0 OR version < $2)
       ORDER BY version DESC LIMIT $3`,
      [datasetId, beforeVersion, limit],
    );
    return rows.map(versionRow);
  }

  /** Removals of a version after `afterSeq`, optionally of one reason (0: all). */
  async listRemoved(
    datasetId: bigint,
    version: number,
    reason: number,
    afterSeq: number,
    limit: number,
  ): Promise<RemovedRow[]> {
    const { rows } = await this.sql.query(
      `SELECT * FROM removed_records WHERE dataset_id = $1 AND version = $2 AND seq > $3
         AND ($4 = 0 OR reason = $4) ORDER BY seq LIMIT $5`,
      [datasetId, version, afterSeq, reason, limit],
    );
    return rows.map((r) => ({
      seq: r['seq'] as number,
      recordId: r['record_id'] as string,
      reason: r['reason'] as number,
      detail: r['detail'] as string,
      duplicateOf: r['duplicate_of'] as string,
      similarity: r['similarity'] as number,
      uploadId: r['upload_id'] as string,
      sourceLine: Number(r['source_line']),
      excerpt: r['excerpt'] as string,
    }));
  }
}

async function insertRemoved(
  tx: SqlExecutor,
  datasetId: bigint,
  version: number,
  removed: Iterable<Omit<RemovedRow, 'seq'>> | AsyncIterable<Omit<RemovedRow, 'seq'>>,
): Promise<void> {
  const BATCH = 1000;
  let part: Omit<RemovedRow, 'seq'>[] = [];
  let start = 0;
  const flush = async (): Promise<void> => {
    if (part.length === 0) return;
    await tx.query(
      `INSERT INTO removed_records (dataset_id, version, seq, record_id, reason, detail,
         duplicate_of, similarity, upload_id, source_line, excerpt)
       SELECT $1, $2, unnest($3::int[]), unnest($4::text[]), unnest($5::int[]), unnest($6::text[]),
         unnest($7::text[]), unnest($8::float8[]), unnest($9::text[]), unnest($10::bigint[]),
         unnest($11::text[])`,
      [
        datasetId,
        version,
        part.map((_, i) => start + i + 1),
        part.map((r) => r.recordId),
        part.map((r) => r.reason),
        part.map((r) => r.detail),
        part.map((r) => r.duplicateOf),
        part.map((r) => r.similarity),
        part.map((r) => r.uploadId),
        part.map((r) => r.sourceLine),
        part.map((r) => r.excerpt),
      ],
    );
    start += part.length;
    part = [];
  };
  for await (const r of removed) {
    part.push(r);
    if (part.length === BATCH) await flush();
  }
  await flush();
}
