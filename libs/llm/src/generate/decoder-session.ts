import { GraphSession, tensorData, type TensorData } from '@lathe/graph';
import { openFromModelFiles } from '../model/external-weights.js';
import type { LlamaConfig } from '../config/llama-config.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import { LOGITS_OUTPUT, buildDecodingGraph, cacheNames } from './decoding-graph.js';

/** Per-layer keys and values of the tokens seen so far, [1, Hkv, P, hd] each. */
export interface KvCache {
  /** P: positions held. */
  readonly length: number;
  readonly layers: readonly { readonly key: TensorData; readonly value: TensorData }[];
}

/**
 * The decoding graph in an in-thread onnxruntime session: feed new tokens and the cache, get
 * the last position's logits and the grown cache. Generation is a sequential loop on one
 * process's CPU, so the session runs in the calling thread.
 */
export class DecoderSession {
  private constructor(
    private readonly session: GraphSession,
    private readonly config: LlamaConfig,
  ) {}

  /** Builds the graph for a model's (possibly adapter-merged) weights and opens its session. */
  static async create(
    model: { readonly config: LlamaConfig; readonly weights: ReadonlyMap<string, Float32Tensor> },
    threads?: number,
  ): Promise<DecoderSession> {
    const { builder, external } = buildDecodingGraph(model.config, model.weights);
    const session = await openFromModelFiles(builder, external, (path) =>
      GraphSession.create(path, threads === undefined ? {} : { intraOpThreads: threads }),
    );
    return new DecoderSession(session, model.config);
  }

  /** A cache holding no positions. */
  emptyCache(): KvCache {
    const empty = (): TensorData =>
      tensorData.float32(new Float32Array(0), [1, this.config.numKvHeads, 0, this.config.headDim]);
    return {
      length: 0,
      layers: Array.from({ length: this.config.numLayers }, () => ({
        key: empty(),
        value: empty(),
      })),
    };
  }

  /**
   * Runs new tokens at positions cache.length.. and returns the logits after the last one.
   *
   * @throws RangeError when the positions would pass the model's max_position_embeddings
   */
  async forward(
    tokens: readonly number[],
    cache: KvCache,
  ): Promise<{ logits: Float32Array; cache: KvCache }> {
    const end = cache.length + tokens.length;
    if (end > this.config.maxPositions) {
      throw new RangeError(
        `sequence of ${end} tokens exceeds the model's ${this.config.maxPositions} positions`,
      );
    }
    const feeds: Record<string, TensorData> = {
      input_ids: tensorData.int64(
        BigInt64Array.from(tokens, (t) => BigInt(t)),
        [1, tokens.length],
      ),
      position_ids: tensorData.int64(
        BigInt64Array.from(tokens, (_, i) => BigInt(cache.length + i)),
        [1, tokens.length],
      ),
    };
    cache.layers.forEach((layer, l) => {
      const names = cacheNames(l);
      feeds[names.pastKey] = layer.key;
      feeds[names.pastValue] = layer.value;
    });
    const out = await this.session.run(feeds);
    const logits = out[LOGITS_OUTPUT]?.data;
    if (!(logits instanceof Float32Array))
      throw new Error('decoding graph returned no float32 logits');
    const layers = cache.layers.map((_, l) => {
      const names = cacheNames(l);
      const key = out[names.presentKey];
      const value = out[names.presentValue];
      if (!key || !value) throw new Error(`decoding graph returned no cache for layer ${l}`);
      return { key, value };
    });
    return { logits, cache: { length: end, layers } };
  }

  /** Releases the session. */
  async close(): Promise<void> {
    await this.session.close();
  }
}
