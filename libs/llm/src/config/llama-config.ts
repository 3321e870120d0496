import { readFile } from 'node:fs/promises';
import { ModelFileError } from './model-file-error.js';

/** Model families this package builds; all share the Llama decoder block. */
export type Architecture = 'llama' | 'mistral' | 'qwen2';

/** RoPE frequency scaling, as in the `rope_scaling` field of config.json. */
export type RopeScaling =
  | { readonly type: 'default' }
  /** Position interpolation: every frequency divided by `factor`. */
  | { readonly type: 'linear'; readonly factor: number }
  /** Llama 3.1's band-wise scaling (low frequencies divided by `factor`, high ones kept). */
  | {
      readonly type: 'llama3';
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositions: number;
    };

/** A validated decoder configuration (from a Hugging Face `config.json`). */
export interface LlamaConfig {
  readonly architecture: Architecture;
  /** Model width D (`hidden_size`). */
  readonly hiddenSize: number;
  /** SwiGLU inner width F (`intermediate_size`). */
  readonly intermediateSize: number;
  readonly numLayers: number;
  /** Query heads H. */
  readonly numHeads: number;
  /** Key/value heads Hkv (grouped-query attention when < H); defaults to H. */
  readonly numKvHeads: number;
  /** Per-head width; defaults to D / H. */
  readonly headDim: number;
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling;
  /** LM head shares the embedding matrix. */
  readonly tieWordEmbeddings: boolean;
  /** Biases on q/k/v projections (Qwen2, or Llama's `attention_bias`). */
  readonly qkvBias: boolean;
  /** Bias on o_proj (Llama's `attention_bias` only). */
  readonly oBias: boolean;
  /** Biases on the MLP projections (`mlp_bias`). */
  readonly mlpBias: boolean;
  readonly bosTokenId: number | undefined;
  /** End-of-sequence ids (config may list several). */
  readonly eosTokenIds: readonly number[];
}

const ARCHITECTURES: Readonly<Record<string, Architecture>> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
};

/**
 * Validates a parsed config.json.
 *
 * @param raw the parsed JSON
 * @param file path for error messages
 * @throws ModelFileError on an unknown architecture or an invalid or unsupported field
 */
export function parseLlamaConfig(raw: unknown, file: string): LlamaConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ModelFileError(file, 'not a JSON object');
  }
  const c = raw as Record<string, unknown>;
  const architectures = Array.isArray(c['architectures']) ? (c['architectures'] as unknown[]) : [];
  const named = architectures.find((a): a is string => typeof a === 'string' && a in ARCHITECTURES);
  const byType = Object.values(ARCHITECTURES).find((a) => a === c['model_type']);
  const architecture = named !== undefined ? ARCHITECTURES[named] : byType;
  if (architecture === undefined) {
    const seen = JSON.stringify(
      architectures.length > 0 ? architectures : (c['model_type'] ?? null),
    );
    throw new ModelFileError(
      file,
      `unknown architecture ${seen} (supported: ${Object.keys(ARCHITECTURES).join(', ')})`,
    );
  }
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (!Number.isSafeInteger(v) || (v as number) <= 0) {
      throw new ModelFileError(
        file,
        `"${key}" must be a positive integer, got ${JSON.stringify(v ?? null)}`,
      );
    }
    return v as number;
  };
  const num = (key: string, fallback: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !(v > 0)) {
      throw new ModelFileError(
        file,
        `"${key}" must be a positive number, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'boolean') throw new ModelFileError(file, `"${key}" must be a boolean`);
    return v;
  };
  const act = c['hidden_act'] ?? 'silu';
  if (act !== 'silu') {
    throw new ModelFileError(
      file,
      `"hidden_act" ${JSON.stringify(act)} is not supported (only "silu")`,
    );
  }
  rejectSlidingWindow(c, architecture, file);
  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new ModelFileError(
      file,
      `num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`,
    );
  }
  const headDim = int('head_dim', Math.floor(hiddenSize / numHeads));
  if (headDim % 2 !== 0)
    throw new ModelFileError(file, `head_dim ${headDim} must be even for RoPE`);
  const attentionBias = bool('attention_bias', false);
  return {
    architecture,
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: int('vocab_size'),
    maxPositions: int('max_position_embeddings', 2048),
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta: num('rope_theta', 10000),
    ropeScaling: parseRopeScaling(c['rope_scaling'], file),
    tieWordEmbeddings: bool('tie_word_embeddings', false),
    qkvBias: architecture === 'qwen2' || attentionBias,
    oBias: architecture !== 'qwen2' && attentionBias,
    mlpBias: bool('mlp_bias', false),
    bosTokenId: optionalId(c['bos_token_id'], 'bos_token_id', file)[0],
    eosTokenIds: optionalId(c['eos_token_id'], 'eos_token_id', file),
  };
}

/** Reads and validates `<dir>/config.json`. */
export async function readLlamaConfig(path: string): Promise<LlamaConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ModelFileError(path, `cannot read: ${(cause as Error).message}`, { cause });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new ModelFileError(path, `not valid JSON: ${(cause as Error).message}`, { cause });
  }
  return parseLlamaConfig(raw, path);
}

function rejectSlidingWindow(
  c: Record<string, unknown>,
  architecture: Architecture,
  file: string,
): void {
  // A window at least as long as the context never masks anything, so it is plain attention.
  const window = c['sliding_window'];
  const maxPositions =
    typeof c['max_position_embeddings'] === 'number' ? c['max_position_embeddings'] : Infinity;
  const active =
    architecture === 'qwen2'
      ? c['use_sliding_window'] === true
      : typeof window === 'number' && window < maxPositions;
  if (active) {
    throw new ModelFileError(
      file,
      `sliding-window attention (sliding_window ${String(window)}) is not supported`,
    );
  }
}

function parseRopeScaling(raw: unknown, file: string): RopeScaling {
  if (raw === undefined || raw === null) return { type: 'default' };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ModelFileError(file, '"rope_scaling" must be an object or null');
  }
  const r = raw as Record<string, unknown>;
  const type = r['rope_type'] ?? r['type'];
  const positive = (key: string): number => {
    const v = r[key];
    if (typeof v !== 'number' || !(v > 0)) {
      throw new ModelFileError(file, `"rope_scaling.${key}" must be a positive number`);
    }
    return v;
  };
  switch (type) {
    case 'default':
      return { type: 'default' };
    case 'linear':
      return { type: 'linear', factor: positive('factor') };
    case 'llama3':
      return {
        type: 'llama3',
        factor: positive('factor'),
        lowFreqFactor: positive('low_freq_factor'),
        highFreqFactor: positive('high_freq_factor'),
        originalMaxPositions: positive('original_max_position_embeddings'),
      };
    default:
      throw new ModelFileError(
        file,
        `rope_scaling type ${JSON.stringify(type)} is not supported (default, linear, llama3)`,
      );
  }
}

function optionalId(raw: unknown, key: string, file: string): number[] {
  if (raw === undefined || raw === null) return [];
  const ids = Array.isArray(raw) ? raw : [raw];
  if (!ids.every((v) => Number.isSafeInteger(v) && (v as number) >= 0)) {
    throw new ModelFileError(file, `"${key}" must be a token id or a list of them`);
  }
  return ids as number[];
}
