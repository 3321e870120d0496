import type { EdgeEnd } from '../store/registry-store.js';
import type { ModelKindCode, ModelVersionRecord, VersionRef } from './model-version.js';

/** The contract's LineageRelation for "a model was trained on a dataset version". */
export const TRAINED_ON = 5;

/** Which way GetLineage walks from its start. */
export type LineageDirection = 'upstream' | 'downstream' | 'both';

/** A vertex of a lineage graph: a model version or a dataset version it was trained on. */
export type LineageVertex =
  | {
      readonly type: 'model';
      readonly ref: VersionRef;
      readonly kind: ModelKindCode;
      readonly deleted: boolean;
    }
  | {
      readonly type: 'dataset';
      readonly dataset: {
        readonly dataset: string;
        readonly version: number;
        readonly manifestSha256: string;
      };
    };

/** An edge origin -> derived, by index into {@link LineageGraph.nodes}. */
export interface LineageLink {
  readonly from: number;
  readonly to: number;
  /** The contract's LineageRelation value. */
  readonly relation: number;
}

/** The lineage around one version; `nodes[0]` is the start. */
export interface LineageGraph {
  readonly nodes: readonly LineageVertex[];
  readonly edges: readonly LineageLink[];
}

/** What the walk reads: the edges of a version and, upstream, its training facts. */
export interface LineageSource {
  edgesOf(name: string, version: number): Promise<{ upstream: EdgeEnd[]; downstream: EdgeEnd[] }>;
  getVersion(name: string, version: number): Promise<ModelVersionRecord | undefined>;
}

function modelKey(r: { name: string; version: number }): string {
  return `m:${r.name}@${String(r.version)}`;
}

/**
 * Walks the edges from `start` breadth first, at most `maxDepth` edges away (0: unlimited).
 * Upstream follows only edges into a version (bases, sources, the dataset it was trained on),
 * downstream only edges out of it: "both" is the two walks from the start, not every relative
 * (siblings sharing a base are not lineage of each other).
 */
export async function walkLineage(
  source: LineageSource,
  start: ModelVersionRecord,
  direction: LineageDirection,
  maxDepth: number,
): Promise<LineageGraph> {
  const nodes: LineageVertex[] = [
    { type: 'model', ref: start.ref, kind: start.kind, deleted: start.deleted },
  ];
  const index = new Map<string, number>([[modelKey(start.ref), 0]]);
  const edges: LineageLink[] = [];
  const edgeKeys = new Set<string>();
  const indexOf = (key: string, vertex: () => LineageVertex): number => {
    const known = index.get(key);
    if (known !== undefined) return known;
    nodes.push(vertex());
    index.set(key, nodes.length - 1);
    return nodes.length - 1;
  };
  const link = (from: number, to: number, relation: number): void => {
    const key = `${String(from)}>${String(to)}:${String(relation)}`;
    if (edgeKeys.has(key)) return;
    edgeKeys.add(key);
    edges.push({ from, to, relation });
  };

  for (const way of direction === 'both' ? (['upstream', 'downstream'] as const) : [direction]) {
    // Each direction keeps its own visited set: the start is expanded once per direction.
    const seen = new Set<string>([modelKey(start.ref)]);
    let frontier: VersionRef[] = [start.ref];
    for (let depth = 0; frontier.length > 0 && (maxDepth === 0 || depth < maxDepth); depth++) {
      const next: VersionRef[] = [];
      for (const here of frontier) {
        const at = index.get(modelKey(here));
        if (at === undefined) throw new Error(`lineage vertex ${modelKey(here)} was never indexed`);
        const { upstream, downstream } = await source.edgesOf(here.name, here.version);
        for (const end of way === 'upstream' ? upstream : downstream) {
          const key = modelKey(end.ref);
          const other = indexOf(key, () => ({
            type: 'model',
            ref: end.ref,
            kind: end.kind,
            deleted: end.deleted,
          }));
          if (way === 'upstream') link(other, at, end.relation);
          else link(at, other, end.relation);
          if (!seen.has(key)) {
            seen.add(key);
            next.push(end.ref);
          }
        }
        if (way === 'upstream') {
          // The dataset is not a row of this service, so its edge lives in the training facts.
          const record = await source.getVersion(here.name, here.version);
          const ds = record?.details.training?.dataset;
          if (ds !== undefined) {
            const d = indexOf(`d:${ds.dataset}@${String(ds.version)}`, () => ({
              type: 'dataset',
              dataset: { ...ds },
            }));
            link(d, at, TRAINED_ON);
          }
        }
      }
      frontier = next;
    }
  }
  return { nodes, edges };
}
