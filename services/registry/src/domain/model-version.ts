import type { ManifestFile } from './manifest.js';

/** What a version is; the numbers are the contract's ModelKind values, stored as they are. */
export const ModelKindCode = { base: 1, adapter: 2, quantized: 3, merged: 4 } as const;
/** One of {@link ModelKindCode}'s values. */
export type ModelKindCode = (typeof ModelKindCode)[keyof typeof ModelKindCode];

/** How one version derives from another; the contract's LineageRelation values. */
export const Relation = {
  adapterOf: 1,
  quantizedFrom: 2,
  mergedBase: 3,
  mergedAdapter: 4,
  fineTunedFrom: 6,
} as const;
/** One of {@link Relation}'s values. */
export type Relation = (typeof Relation)[keyof typeof Relation];

/** An exact version: name, number and manifest digest. */
export interface VersionRef {
  readonly name: string;
  readonly version: number;
  readonly manifestSha256: string;
}

/** Facts read from config.json (or, for adapters, from the adapter). */
export interface ArchitectureFacts {
  readonly modelType: string;
  readonly parameterCount: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly dtype: string;
}

/** The quantization state of a model: none, or a scheme with its block sizes. */
export interface QuantizationState {
  readonly scheme: string;
  readonly blockSize: number;
  readonly doubleQuant: boolean;
}

/**
 * What an adapter is only valid with: the exact base bytes, the base's quantization state and
 * its chat template. Pulling or merging against a base that differs in any of them is refused.
 */
export interface AdapterCompatibility {
  readonly baseManifestSha256: string;
  /** Undefined when trained against unquantized weights. */
  readonly quantization: QuantizationState | undefined;
  /** SHA-256 of the base's chat template text; '' when the base has none. */
  readonly chatTemplateSha256: string;
}

/** Adapter facts from adapter_config.json plus what it was trained against. */
export interface AdapterFacts {
  readonly base: VersionRef;
  readonly quantizedBase: VersionRef | undefined;
  readonly r: number;
  readonly alpha: number;
  readonly targetModules: readonly string[];
  readonly useRslora: boolean;
  readonly method: string;
  readonly compatibility: AdapterCompatibility;
}

/** Facts of a QUANTIZED version. */
export interface QuantizationFacts extends QuantizationState {
  readonly source: VersionRef;
  readonly quantizationJobId: string;
  readonly bitsPerParameter: number;
}

/** Facts of a MERGED version. */
export interface MergeFacts {
  readonly base: VersionRef;
  readonly adapter: VersionRef;
  readonly dtype: string;
}

/** Where a trained version came from: job, dataset, metrics and the trace of the run. */
export interface TrainingFacts {
  readonly jobId: string;
  readonly dataset:
    | { readonly dataset: string; readonly version: number; readonly manifestSha256: string }
    | undefined;
  readonly metrics: Readonly<Record<string, number>>;
  readonly traceId: string;
  readonly hyperparameters: Readonly<Record<string, string>>;
}

/** Everything a version records besides its files; kept as one JSON document. */
export interface VersionDetails {
  readonly architecture?: ArchitectureFacts;
  readonly adapter?: AdapterFacts;
  readonly quantization?: QuantizationFacts;
  readonly merge?: MergeFacts;
  readonly training?: TrainingFacts;
}

/** One immutable version as the registry keeps it. */
export interface ModelVersionRecord {
  readonly ref: VersionRef;
  readonly kind: ModelKindCode;
  readonly deleted: boolean;
  readonly files: readonly ManifestFile[];
  readonly totalSizeBytes: number;
  readonly details: VersionDetails;
  readonly description: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly aliases: readonly string[];
  readonly createTime: Date;
  readonly deleteTime: Date | undefined;
}

/** One recorded alias move. */
export interface AliasMove {
  readonly model: string;
  readonly alias: string;
  readonly fromVersion: number;
  readonly toVersion: number;
  readonly actor: string;
  readonly reason: string;
  readonly changeTime: Date;
}
