// Protobuf <-> domain conversions of the registry's messages.
import type { ModelRef, ModelVersionRef } from '@lathe/contracts/lathe/common/v1/model_ref';
import {
  ModelKind,
  ModelVersionState,
  type AliasChange,
  type ModelVersion,
} from '@lathe/contracts/lathe/registry/v1/model';
import type { GetLineageResponse } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { LineageDirection } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { LatheError } from '@lathe/service-kit';
import type { LineageDirection as Direction, LineageGraph } from './domain/lineage.js';
import type { ModelSelector } from './domain/registry.js';
import type { AliasMove, ModelVersionRecord, VersionRef } from './domain/model-version.js';

/** A ModelRef request field as a selector. */
export function selectorOf(ref: ModelRef | undefined, field: string): ModelSelector {
  const s = ref?.selector;
  if (ref === undefined || s === undefined)
    throw LatheError.invalidArgument([{ field, description: 'must name a version or an alias' }]);
  return s.$case === 'version'
    ? { name: ref.name, version: s.version }
    : { name: ref.name, alias: s.alias };
}

/** A ModelVersionRef request field as a selector (its digest, when set, is checked). */
export function exactSelectorOf(ref: ModelVersionRef | undefined, field: string): ModelSelector {
  if (ref === undefined || ref.name === '' || ref.version < 1)
    throw LatheError.invalidArgument([
      { field, description: 'must name a model and a version of 1 or more' },
    ]);
  return { name: ref.name, version: ref.version, manifestSha256: ref.manifestSha256 };
}

function refOut(r: VersionRef): ModelVersionRef {
  return { name: r.name, version: r.version, manifestSha256: r.manifestSha256 };
}

/** A version record as the contract's ModelVersion. */
export function modelVersionOut(v: ModelVersionRecord): ModelVersion {
  const d = v.details;
  return {
    ref: refOut(v.ref),
    kind: v.kind,
    state: v.deleted
      ? ModelVersionState.MODEL_VERSION_STATE_DELETED
      : ModelVersionState.MODEL_VERSION_STATE_READY,
    files: v.files.map((f) => ({
      path: f.path,
      artifact: {
        sha256: f.sha256,
        sizeBytes: f.size,
        mediaType: f.path.endsWith('.json') ? 'application/json' : 'application/octet-stream',
        uri: `registry/sha256/${f.sha256.slice(0, 2)}/${f.sha256.slice(2)}`,
      },
    })),
    totalSizeBytes: v.totalSizeBytes,
    architecture: d.architecture === undefined ? undefined : { ...d.architecture },
    adapter:
      d.adapter === undefined
        ? undefined
        : {
            base: refOut(d.adapter.base),
            r: d.adapter.r,
            alpha: d.adapter.alpha,
            targetModules: [...d.adapter.targetModules],
            useRslora: d.adapter.useRslora,
            method: d.adapter.method,
            quantizedBase:
              d.adapter.quantizedBase === undefined ? undefined : refOut(d.adapter.quantizedBase),
          },
    quantization:
      d.quantization === undefined
        ? undefined
        : { ...d.quantization, source: refOut(d.quantization.source) },
    merge:
      d.merge === undefined
        ? undefined
        : { base: refOut(d.merge.base), adapter: refOut(d.merge.adapter), dtype: d.merge.dtype },
    training:
      d.training === undefined
        ? undefined
        : {
            jobId: d.training.jobId,
            dataset: d.training.dataset === undefined ? undefined : { ...d.training.dataset },
            metrics: { ...d.training.metrics },
          },
    aliases: [...v.aliases],
    description: v.description,
    labels: { ...v.labels },
    createTime: v.createTime,
    deleteTime: v.deleteTime,
  };
}

/** An alias move as the contract's AliasChange. */
export function aliasChangeOut(m: AliasMove): AliasChange {
  return { ...m };
}

/** The request's direction as the walk's (UNSPECIFIED means both, as the contract says). */
export function lineageDirectionOf(d: LineageDirection): Direction {
  if (d === LineageDirection.LINEAGE_DIRECTION_UPSTREAM) return 'upstream';
  if (d === LineageDirection.LINEAGE_DIRECTION_DOWNSTREAM) return 'downstream';
  return 'both';
}

/** A walked lineage graph as the contract's GetLineageResponse. */
export function lineageOut(g: LineageGraph): GetLineageResponse {
  return {
    nodes: g.nodes.map((n) =>
      n.type === 'model'
        ? { node: { $case: 'model', model: refOut(n.ref) }, kind: n.kind, deleted: n.deleted }
        : {
            node: { $case: 'dataset', dataset: { ...n.dataset } },
            kind: ModelKind.MODEL_KIND_UNSPECIFIED,
            deleted: false,
          },
    ),
    edges: g.edges.map((e) => ({ fromIndex: e.from, toIndex: e.to, relation: e.relation })),
  };
}
