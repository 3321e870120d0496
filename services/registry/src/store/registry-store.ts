import { ErrorReason } from '@lathe/contracts/lathe/common/v1/error_reason';
import { LatheError } from '@lathe/service-kit';
import type { SqlClient, SqlExecutor } from '@lathe/store';
import type { ManifestFile } from '../domain/manifest.js';
import type {
  AliasMove,
  ModelKindCode,
  ModelVersionRecord,
  Relation,
  VersionDetails,
  VersionRef,
} from '../domain/model-version.js';

interface VersionRow {
  [key: string]: unknown;
  model: string;
  version: number;
  manifest_sha256: string;
  kind: number;
  deleted: boolean;
  files: ManifestFile[];
  total_size_bytes: bigint;
  details: VersionDetails;
  description: string;
  labels: Record<string, string>;
  create_time: Date;
  delete_time: Date | null;
  aliases: string[] | null;
}

const SELECT_VERSION = `
  SELECT v.*, (SELECT array_agg(a.alias ORDER BY a.alias) FROM aliases a
               WHERE a.model = v.model AND a.version = v.version) AS aliases
  FROM model_versions v`;

function toRecord(row: VersionRow): ModelVersionRecord {
  return {
    ref: { name: row.model, version: row.version, manifestSha256: row.manifest_sha256 },
    kind: row.kind as ModelKindCode,
    deleted: row.deleted,
    files: row.files,
    totalSizeBytes: Number(row.total_size_bytes),
    details: row.details,
    description: row.description,
    labels: row.labels,
    aliases: row.aliases ?? [],
    createTime: row.create_time,
    deleteTime: row.delete_time ?? undefined,
  };
}

/** A version about to be recorded. */
export interface NewVersion {
  readonly name: string;
  readonly kind: ModelKindCode;
  readonly manifestSha256: string;
  readonly files: readonly ManifestFile[];
  readonly details: VersionDetails;
  readonly description: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Client-chosen key: a retry with it returns the version it first created. */
  readonly idempotencyKey?: string | undefined;
  /** Origins of this version: each becomes an edge origin -> new version. */
  readonly parents: ReadonlyArray<{ readonly ref: VersionRef; readonly relation: Relation }>;
}

/** The registry's tables (schema `registry`): versions, edges, aliases and their history. */
export class RegistryStore {
  constructor(private readonly sql: SqlClient) {}

  /**
   * Records `v` as the next version of its model, or returns the existing version with the same
   * manifest (`created: false`): versions are immutable and identified by their content. The
   * model row is locked, so concurrent registrations under one name number without gaps.
   */
  async insertVersion(v: NewVersion): Promise<{ record: ModelVersionRecord; created: boolean }> {
    const created = await this.sql.transaction(async (tx) => {
      await tx.query(
        'INSERT INTO models (name, kind) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
        [v.name, v.kind],
      );
      const model = await tx.query<{ kind: number; latest_version: number }>(
        'SELECT kind, latest_version FROM models WHERE name = $1 FOR UPDATE',
        [v.name],
      );
      const row = model.rows[0];
      if (row === undefined) throw new Error(`model "${v.name}" vanished inside its transaction`);
      if (row.kind !== v.kind)
        throw LatheError.failedPrecondition(
          `model "${v.name}" holds kind ${kindName(row.kind)} versions; cannot add a ${kindName(v.kind)} version`,
          [{ type: 'MODEL_KIND', subject: `models/${v.name}`, description: 'kind differs' }],
        );
      const key = v.idempotencyKey ?? '';
      if (key !== '') {
        const keyed = await tx.query<{ version: number; manifest_sha256: string }>(
          'SELECT version, manifest_sha256 FROM model_versions WHERE model = $1 AND idempotency_key = $2',
          [v.name, key],
        );
        const first = keyed.rows[0];
        if (first !== undefined) {
          if (first.manifest_sha256 !== v.manifestSha256)
            throw LatheError.aborted(
              `idempotency key "${key}" already registered ${v.name}@${String(first.version)} with other files`,
              {
                reason: ErrorReason.ERROR_REASON_IDEMPOTENCY_KEY_REUSED,
                metadata: { idempotencyKey: key },
              },
            );
          return { version: first.version, fresh: false };
        }
      }
      const existing = await tx.query<{ version: number }>(
        'SELECT version FROM model_versions WHERE model = $1 AND manifest_sha256 = $2',
        [v.name, v.manifestSha256],
      );
      if (existing.rows[0] !== undefined)
        return { version: existing.rows[0].version, fresh: false };
      const version = row.latest_version + 1;
      const total = v.files.reduce((s, f) => s + f.size, 0);
      await tx.query(
        `INSERT INTO model_versions (model, version, manifest_sha256, kind, files, total_size_bytes,
           details, description, labels, idempotency_key)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8, $9::jsonb, NULLIF($10, ''))`,
        [
          v.name,
          version,
          v.manifestSha256,
          v.kind,
          JSON.stringify(v.files),
          total,
          JSON.stringify(v.details),
          v.description,
          JSON.stringify(v.labels),
          key,
        ],
      );
      await tx.query('UPDATE models SET latest_version = $2, update_time = now() WHERE name = $1', [
        v.name,
        version,
      ]);
      for (const p of v.parents)
        await tx.query(
          `INSERT INTO version_edges (from_model, from_version, to_model, to_version, relation)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
          [p.ref.name, p.ref.version, v.name, version, p.relation],
        );
      return { version, fresh: true };
    });
    const record = await this.getVersion(v.name, created.version);
    if (record === undefined)
      throw new Error(`version ${v.name}@${String(created.version)} vanished`);
    return { record, created: created.fresh };
  }

  /** One version, deleted or not; undefined when it does not exist. */
  async getVersion(name: string, version: number): Promise<ModelVersionRecord | undefined> {
    const r = await this.sql.query<VersionRow>(
      `${SELECT_VERSION} WHERE v.model = $1 AND v.version = $2`,
      [name, version],
    );
    return r.rows[0] === undefined ? undefined : toRecord(r.rows[0]);
  }

  /** The version an alias points at now, or undefined. */
  async aliasTarget(name: string, alias: string): Promise<number | undefined> {
    const r = await this.sql.query<{ version: number }>(
      'SELECT version FROM aliases WHERE model = $1 AND alias = $2',
      [name, alias],
    );
    return r.rows[0]?.version;
  }

  /** A model's versions, newest first. */
  async listVersions(name: string, includeDeleted: boolean): Promise<ModelVersionRecord[]> {
    const r = await this.sql.query<VersionRow>(
      `${SELECT_VERSION} WHERE v.model = $1 AND ($2 OR NOT v.deleted) ORDER BY v.version DESC`,
      [name, includeDeleted],
    );
    return r.rows.map(toRecord);
  }

  /** Models (name, kind, latest version, aliases), by name. */
  async listModels(kind: number, namePrefix: string): Promise<ModelSummary[]> {
    const r = await this.sql.query<{
      name: string;
      kind: number;
      latest_version: number;
      create_time: Date;
      update_time: Date;
      aliases: Record<string, number> | null;
      labels: Record<string, string> | null;
      description: string | null;
    }>(
      `SELECT m.*, (SELECT jsonb_object_agg(a.alias, a.version) FROM aliases a WHERE a.model = m.name) AS aliases,
         l.labels, l.description
       FROM models m LEFT JOIN model_versions l ON l.model = m.name AND l.version = m.latest_version
       WHERE ($1 = 0 OR m.kind = $1) AND starts_with(m.name, $2) AND m.latest_version > 0
       ORDER BY m.name`,
      [kind, namePrefix],
    );
    return r.rows.map((m) => ({
      name: m.name,
      kind: m.kind as ModelKindCode,
      latestVersion: m.latest_version,
      aliases: m.aliases ?? {},
      labels: m.labels ?? {},
      description: m.description ?? '',
      createTime: m.create_time,
      updateTime: m.update_time,
    }));
  }

  /**
   * Moves `alias` of `name` to `to` (0 removes it) only if it points at `expected` now (0: must
   * not exist). The model row is locked first, so of two concurrent moves expecting the same
   * version exactly one succeeds and the other sees the new value and fails.
   */
  async moveAlias(move: {
    name: string;
    alias: string;
    to: number;
    expected: number;
    actor: string;
    reason: string;
  }): Promise<AliasMove> {
    return this.sql.transaction(async (tx) => {
      const model = await tx.query('SELECT name FROM models WHERE name = $1 FOR UPDATE', [
        move.name,
      ]);
      if (model.rows.length === 0)
        throw LatheError.notFound('model', move.name, {
          reason: ErrorReason.ERROR_REASON_MODEL_NOT_FOUND,
        });
      const current =
        (
          await tx.query<{ version: number }>(
            'SELECT version FROM aliases WHERE model = $1 AND alias = $2',
            [move.name, move.alias],
          )
        ).rows[0]?.version ?? 0;
      if (current !== move.expected)
        throw LatheError.failedPrecondition(
          `alias "${move.name}@${move.alias}" points at ${current === 0 ? 'nothing' : `version ${String(current)}`}, not the expected ${move.expected === 0 ? 'nothing' : `version ${String(move.expected)}`}`,
          [
            {
              type: 'ALIAS_CONFLICT',
              subject: `models/${move.name}/aliases/${move.alias}`,
              description: `current version ${String(current)}`,
            },
          ],
          {
            reason: ErrorReason.ERROR_REASON_ALIAS_CONFLICT,
            metadata: { currentVersion: String(current) },
          },
        );
      if (move.to !== 0) await this.requireLive(tx, move.name, move.to);
      if (move.to === 0)
        await tx.query('DELETE FROM aliases WHERE model = $1 AND alias = $2', [
          move.name,
          move.alias,
        ]);
      else
        await tx.query(
          `INSERT INTO aliases (model, alias, version) VALUES ($1, $2, $3)
           ON CONFLICT (model, alias) DO UPDATE SET version = EXCLUDED.version`,
          [move.name, move.alias, move.to],
        );
      const h = await tx.query<{ change_time: Date }>(
        `INSERT INTO alias_history (model, alias, from_version, to_version, actor, reason)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING change_time`,
        [move.name, move.alias, current, move.to, move.actor, move.reason],
      );
      return {
        model: move.name,
        alias: move.alias,
        fromVersion: current,
        toVersion: move.to,
        actor: move.actor,
        reason: move.reason,
        changeTime: h.rows[0]?.change_time ?? new Date(),
      };
    });
  }

  private async requireLive(tx: SqlExecutor, name: string, version: number): Promise<void> {
    const r = await tx.query<{ deleted: boolean }>(
      'SELECT deleted FROM model_versions WHERE model = $1 AND version = $2',
      [name, version],
    );
    const row = r.rows[0];
    if (row === undefined || row.deleted)
      throw LatheError.notFound('model version', `${name}@${String(version)}`, {
        reason: ErrorReason.ERROR_REASON_MODEL_VERSION_NOT_FOUND,
        description: `model version "${name}@${String(version)}" ${row === undefined ? 'not found' : 'is deleted'}`,
      });
  }

  /** An alias's moves, newest first. */
  async aliasHistory(name: string, alias: string): Promise<AliasMove[]> {
    const r = await this.sql.query<{
      from_version: number;
      to_version: number;
      actor: string;
      reason: string;
      change_time: Date;
    }>('SELECT * FROM alias_history WHERE model = $1 AND alias = $2 ORDER BY id DESC', [
      name,
      alias,
    ]);
    return r.rows.map((h) => ({
      model: name,
      alias,
      fromVersion: h.from_version,
      toVersion: h.to_version,
      actor: h.actor,
      reason: h.reason,
      changeTime: h.change_time,
    }));
  }

  /**
   * Every edge touching a version, deleted ends included (lineage outlives files): `upstream`
   * are its origins (edges into it), `downstream` what derives from it (edges out of it).
   */
  async edgesOf(
    name: string,
    version: number,
  ): Promise<{ upstream: EdgeEnd[]; downstream: EdgeEnd[] }> {
    const r = await this.sql.query<{
      dir: string;
      model: string;
      version: number;
      manifest_sha256: string;
      kind: number;
      deleted: boolean;
      relation: number;
    }>(
      `SELECT 'up' AS dir, v.model, v.version, v.manifest_sha256, v.kind, v.deleted, e.relation
         FROM version_edges e JOIN model_versions v ON v.model = e.from_model AND v.version = e.from_version
         WHERE e.to_model = $1 AND e.to_version = $2
       UNION ALL
       SELECT 'down' AS dir, v.model, v.version, v.manifest_sha256, v.kind, v.deleted, e.relation
         FROM version_edges e JOIN model_versions v ON v.model = e.to_model AND v.version = e.to_version
         WHERE e.from_model = $1 AND e.from_version = $2
       ORDER BY model, version, relation`,
      [name, version],
    );
    const end = (x: (typeof r.rows)[number]): EdgeEnd => ({
      ref: { name: x.model, version: x.version, manifestSha256: x.manifest_sha256 },
      kind: x.kind as ModelKindCode,
      deleted: x.deleted,
      relation: x.relation as Relation,
    });
    return {
      upstream: r.rows.filter((x) => x.dir === 'up').map(end),
      downstream: r.rows.filter((x) => x.dir === 'down').map(end),
    };
  }

  /** Live versions derived from this one (what keeps it from being deleted). */
  async dependents(name: string, version: number): Promise<VersionRef[]> {
    const r = await this.sql.query<{ model: string; version: number; manifest_sha256: string }>(
      `SELECT v.model, v.version, v.manifest_sha256 FROM version_edges e
       JOIN model_versions v ON v.model = e.to_model AND v.version = e.to_version
       WHERE e.from_model = $1 AND e.from_version = $2 AND NOT v.deleted`,
      [name, version],
    );
    return r.rows.map((d) => ({
      name: d.model,
      version: d.version,
      manifestSha256: d.manifest_sha256,
    }));
  }

  /**
   * Marks a version deleted unless it is aliased or depended on (then FAILED_PRECONDITION,
   * naming them); with `force`, its aliases are removed. Runs under the model's row lock, so an
   * alias cannot be pointed at it meanwhile.
   */
  async markDeleted(name: string, version: number, force: boolean): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await tx.query('SELECT name FROM models WHERE name = $1 FOR UPDATE', [name]);
      await this.requireLive(tx, name, version);
      const aliases = (
        await tx.query<{ alias: string }>(
          'SELECT alias FROM aliases WHERE model = $1 AND version = $2 ORDER BY alias',
          [name, version],
        )
      ).rows.map((a) => a.alias);
      const deps = (
        await tx.query<{ to_model: string; to_version: number }>(
          `SELECT e.to_model, e.to_version FROM version_edges e JOIN model_versions v
           ON v.model = e.to_model AND v.version = e.to_version
           WHERE e.from_model = $1 AND e.from_version = $2 AND NOT v.deleted`,
          [name, version],
        )
      ).rows.map((d) => `${d.to_model}@${String(d.to_version)}`);
      if (!force && (aliases.length > 0 || deps.length > 0))
        throw LatheError.failedPrecondition(
          `model version "${name}@${String(version)}" is in use: ${[
            ...aliases.map((a) => `alias ${a}`),
            ...deps.map((d) => `derived version ${d}`),
          ].join(', ')}`,
          [
            {
              type: 'MODEL_VERSION_IN_USE',
              subject: `models/${name}/versions/${String(version)}`,
              description: 'aliased or depended on',
            },
          ],
          { reason: ErrorReason.ERROR_REASON_MODEL_VERSION_IN_USE },
        );
      await tx.query('DELETE FROM aliases WHERE model = $1 AND version = $2', [name, version]);
      await tx.query(
        'UPDATE model_versions SET deleted = true, delete_time = now() WHERE model = $1 AND version = $2',
        [name, version],
      );
    });
  }

  /** SHA-256 of every file some live version lists: what garbage collection must keep. */
  async liveBlobs(): Promise<Set<string>> {
    const r = await this.sql.query<{ sha256: string }>(
      `SELECT DISTINCT f->>'sha256' AS sha256 FROM model_versions v, jsonb_array_elements(v.files) f
       WHERE NOT v.deleted`,
    );
    return new Set(r.rows.map((x) => x.sha256));
  }
}

/** The other end of an edge seen from one version, with how the two relate. */
export interface EdgeEnd {
  readonly ref: VersionRef;
  readonly kind: ModelKindCode;
  readonly deleted: boolean;
  readonly relation: Relation;
}

/** One model as listed. */
export interface ModelSummary {
  readonly name: string;
  readonly kind: ModelKindCode;
  readonly latestVersion: number;
  readonly aliases: Readonly<Record<string, number>>;
  /** Labels and description of the latest version. */
  readonly labels: Readonly<Record<string, string>>;
  readonly description: string;
  readonly createTime: Date;
  readonly updateTime: Date;
}

function kindName(kind: number): string {
  return ['unspecified', 'BASE', 'ADAPTER', 'QUANTIZED', 'MERGED'][kind] ?? `kind ${String(kind)}`;
}
