import type { LlamaModel } from '../model/llama-model.js';
import type { LoraAdapter } from '../peft/adapter-files.js';
import { mergeLoraWeights } from '../merge/merge-lora.js';
import { SeededRandom } from '../optim/seeded-random.js';
import { DecoderSession } from './decoder-session.js';
import { sampleToken, validateSampling, type SamplingOptions } from './sampling.js';

/** Options of {@link TextGenerator.create}. */
export interface GeneratorOptions {
  /** A LoRA adapter to apply; its update is folded into the weights once (W + scale·B·A). */
  readonly adapter?: LoraAdapter | undefined;
  /** Intra-op threads of the session (default: onnxruntime's choice). */
  readonly threads?: number;
}

/** Options of one {@link TextGenerator.generate} call. */
export interface GenerateOptions {
  /** Most new tokens to produce (>= 1). */
  readonly maxNewTokens: number;
  /** Greedy or sampled decoding; default greedy. */
  readonly sampling?: SamplingOptions;
  /** Seed of the sampling stream (default 0); ignored by greedy decoding. */
  readonly seed?: number;
  /** Ids that end generation; the stop token is not included in the result. */
  readonly stopTokenIds?: readonly number[];
}

/** What a generation produced. */
export interface GenerateResult {
  /** New token ids, without the prompt and without the stop token. */
  readonly tokenIds: number[];
  /** Why it ended: a stop token, or the token budget. */
  readonly stopReason: 'stop-token' | 'max-new-tokens';
}

/**
 * Autoregressive generation with a KV cache: one pass over the prompt fills the cache, then each
 * new token costs one single-position pass. The session is built once and reused across calls.
 */
export class TextGenerator {
  private constructor(
    private readonly session: DecoderSession,
    private readonly vocabSize: number,
    private readonly maxPositions: number,
  ) {}

  /** Builds the decoding graph and its session for a model (and adapter). */
  static async create(model: LlamaModel, options: GeneratorOptions = {}): Promise<TextGenerator> {
    const weights =
      options.adapter === undefined ? model.weights : mergeLoraWeights(model, options.adapter);
    const session = await DecoderSession.create({ config: model.config, weights }, options.threads);
    return new TextGenerator(session, model.config.vocabSize, model.config.maxPositions);
  }

  /**
   * Continues `prompt`.
   *
   * @throws RangeError when the prompt is empty, holds an id outside the vocabulary, would run
   *   past the model's positions, or the options are invalid
   */
  async generate(prompt: readonly number[], options: GenerateOptions): Promise<GenerateResult> {
    if (prompt.length === 0) throw new RangeError('the prompt must hold at least one token');
    const bad = prompt.find((id) => !Number.isInteger(id) || id < 0 || id >= this.vocabSize);
    if (bad !== undefined)
      throw new RangeError(`prompt token ${bad} is outside the vocabulary (${this.vocabSize} ids)`);
    if (!Number.isInteger(options.maxNewTokens) || options.maxNewTokens < 1) {
      throw new RangeError(`maxNewTokens must be a positive integer, got ${options.maxNewTokens}`);
    }
    if (prompt.length + options.maxNewTokens - 1 > this.maxPositions) {
      throw new RangeError(
        `prompt of ${prompt.length} tokens plus ${options.maxNewTokens} new tokens exceeds the model's ${this.maxPositions} positions`,
      );
    }
    const sampling = options.sampling ?? { greedy: true };
    validateSampling(sampling);
    const rng = SeededRandom.fromSeed(options.seed ?? 0).split('generate');
    const stop = new Set(options.stopTokenIds ?? []);
    const out: number[] = [];
    let cache = this.session.emptyCache();
    let logits: Float32Array;
    ({ logits, cache } = await this.session.forward(prompt, cache));
    for (;;) {
      const next = sampleToken(logits, sampling, rng);
      if (stop.has(next)) return { tokenIds: out, stopReason: 'stop-token' };
      out.push(next);
      if (out.length >= options.maxNewTokens)
        return { tokenIds: out, stopReason: 'max-new-tokens' };
      ({ logits, cache } = await this.session.forward([next], cache));
    }
  }

  /** Releases the session. */
  async close(): Promise<void> {
    await this.session.close();
  }
}
