import {
  SessionWorker,
  tensorData,
  type GraphRunner,
  type SessionOptions,
  type TensorData,
} from '@lathe/graph';
import { openFromModelFiles } from '../model/external-weights.js';
import { engineSessionOptions, type LlamaEngineOptions } from '../model/llama-engine.js';
import type { LlamaModel } from '../model/llama-model.js';
import {
  LOSS_OUTPUT,
  SEQUENCE_LOG_PROBS_OUTPUT,
  buildCausalLmGraph,
  gradOutputName,
  type CausalLmGraph,
} from '../model/training-graph.js';
import { SeededRandom } from '../optim/seeded-random.js';
import type { EngineMethod } from '../train/training-engine.js';
import { batchFeeds } from './batch-feeds.js';
import {
  BETA_INPUT,
  LABEL_SMOOTHING_INPUT,
  PAIR_LOSSES_OUTPUT,
  PAIR_WEIGHTS_INPUT,
  REFERENCE_LOG_PROBS_INPUT,
  RESPONSE_SCALE_INPUT,
  dpoObjective,
  type DpoLossType,
} from './dpo-objective.js';
import { pairBatch, responseLengths, type PreferencePair } from './preference-pair.js';

/** The DPO loss settings. */
export interface DpoLossConfig {
  /** Default 'sigmoid'. */
  readonly lossType: DpoLossType;
  /** β, the strength of the KL anchor to the reference. Default 0.1. */
  readonly beta: number;
  /** ε of conservative DPO, in [0, 0.5); sigmoid loss only. Default 0. */
  readonly labelSmoothing: number;
}

/** Validates and fills {@link DpoLossConfig}; errors name the option. */
export function createDpoLossConfig(options: Partial<DpoLossConfig> = {}): DpoLossConfig {
  const lossType = options.lossType ?? 'sigmoid';
  const beta = options.beta ?? 0.1;
  const labelSmoothing = options.labelSmoothing ?? 0;
  if (lossType !== 'sigmoid' && lossType !== 'ipo')
    throw new RangeError(`loss: unknown DPO loss "${String(lossType)}" (sigmoid or ipo)`);
  if (!(Number.isFinite(beta) && beta > 0))
    throw new RangeError(`beta: must be a positive number (got ${beta})`);
  if (!(labelSmoothing >= 0 && labelSmoothing < 0.5))
    throw new RangeError(`label-smoothing: must be in [0, 0.5) (got ${labelSmoothing})`);
  if (lossType === 'ipo' && labelSmoothing !== 0)
    throw new RangeError('label-smoothing: applies to the sigmoid loss only, not ipo');
  return { lossType, beta, labelSmoothing };
}

/** One DPO forward (and backward) over a batch of pairs. */
export interface DpoStepResult {
  /** Σ_p w_p·loss_p · lossWeight. */
  readonly loss: number;
  /** Unweighted loss of each pair. */
  readonly pairLosses: Float32Array;
  /** Policy log-probs per row (chosen rows, then rejected), scaled as the loss uses them. */
  readonly policyLogProbs: Float32Array;
  /** Reference log-probs in the same order and scale. */
  readonly referenceLogProbs: Float32Array;
  /** d loss / d trainable (empty for {@link DpoEngine.evaluate}). */
  readonly grads: Map<string, Float32Array>;
}

/**
 * DPO on the causal-LM graph: chosen and rejected rows in one batch, reference log-probs and
 * pair weights as inputs, the loss built in-graph (see {@link dpoObjective}). IPO uses the
 * length-normalized (mean per token) log-probs, as TRL does; the sigmoid loss uses sums.
 */
export class DpoEngine {
  /** Trainable tensor names and shapes (PEFT names for LoRA, Hugging Face names for full). */
  readonly trainableShapes: ReadonlyMap<string, readonly number[]>;
  private evalRunner: Promise<{ graph: CausalLmGraph; runner: GraphRunner }> | undefined;

  private constructor(
    private readonly model: LlamaModel,
    private readonly method: EngineMethod,
    readonly loss: DpoLossConfig,
    private readonly graph: CausalLmGraph,
    private readonly runner: GraphRunner,
    private readonly options: LlamaEngineOptions,
  ) {
    this.trainableShapes = new Map(graph.trainables.map((t) => [t.name, t.shape]));
  }

  /** Builds the DPO training graph for the policy (the model with `method`) and opens it. */
  static async create(
    model: LlamaModel,
    method: EngineMethod,
    loss: DpoLossConfig,
    options: LlamaEngineOptions = {},
  ): Promise<DpoEngine> {
    const graph = buildCausalLmGraph(model, method, true, dpoObjective(loss.lossType));
    const runner = await open(graph, engineSessionOptions(model, options.session, method));
    return new DpoEngine(model, method, loss, graph, runner, options);
  }

  /**
   * Loss and gradients of a batch of pairs.
   *
   * @param referenceSums the reference's summed response log-probs, 2P in batch order
   * @param lossWeight multiplies the weighted loss sum (1 / Σ weights of the optimizer step)
   * @param dropoutSeed seed of the LoRA dropout masks (ignored when dropout is 0)
   */
  async step(
    pairs: readonly PreferencePair[],
    referenceSums: Float32Array,
    lossWeight: number,
    trainable: ReadonlyMap<string, Float32Array>,
    dropoutSeed: number,
  ): Promise<DpoStepResult> {
    return this.run(
      this.graph,
      this.runner,
      pairs,
      referenceSums,
      lossWeight,
      trainable,
      dropoutSeed,
    );
  }

  /** Forward only (no dropout, no gradients): the loss and log-probs for metrics. */
  async evaluate(
    pairs: readonly PreferencePair[],
    referenceSums: Float32Array,
    lossWeight: number,
    trainable: ReadonlyMap<string, Float32Array>,
  ): Promise<DpoStepResult> {
    this.evalRunner ??= this.openEval();
    const { graph, runner } = await this.evalRunner;
    return this.run(graph, runner, pairs, referenceSums, lossWeight, trainable, undefined);
  }

  /** Releases the sessions and their workers. */
  async close(): Promise<void> {
    const evalRunner = this.evalRunner;
    this.evalRunner = undefined;
    await Promise.all([this.runner.close(), evalRunner?.then((e) => e.runner.close())]);
  }

  private async openEval(): Promise<{ graph: CausalLmGraph; runner: GraphRunner }> {
    const graph = buildCausalLmGraph(
      this.model,
      this.method,
      false,
      dpoObjective(this.loss.lossType),
    );
    const session = engineSessionOptions(this.model, this.options.session, this.method);
    return { graph, runner: await open(graph, session) };
  }

  private async run(
    graph: CausalLmGraph,
    runner: GraphRunner,
    pairs: readonly PreferencePair[],
    referenceSums: Float32Array,
    lossWeight: number,
    trainable: ReadonlyMap<string, Float32Array>,
    dropoutSeed: number | undefined,
  ): Promise<DpoStepResult> {
    const batch = pairBatch(pairs);
    if (referenceSums.length !== batch.batchSize)
      throw new RangeError(
        `${referenceSums.length} reference log-probs for ${pairs.length} pairs (need ${batch.batchSize})`,
      );
    const scale = this.responseScale(pairs);
    const reference = referenceSums.map((v, i) => v * (scale[i] ?? 1));
    const feeds: Record<string, TensorData> = {
      ...batchFeeds(batch, lossWeight),
      [REFERENCE_LOG_PROBS_INPUT]: tensorData.float32(reference, [batch.batchSize]),
      [RESPONSE_SCALE_INPUT]: tensorData.float32(scale, [batch.batchSize]),
      [PAIR_WEIGHTS_INPUT]: tensorData.float32(
        Float32Array.from(pairs, (p) => p.weight ?? 1),
        [pairs.length],
      ),
      [BETA_INPUT]: tensorData.float32(new Float32Array([this.loss.beta]), []),
      [LABEL_SMOOTHING_INPUT]: tensorData.float32(new Float32Array([this.loss.labelSmoothing]), []),
    };
    for (const t of graph.trainables) {
      const data = trainable.get(t.name);
      const count = t.shape.reduce((a, d) => a * d, 1);
      if (data?.length !== count)
        throw new Error(
          `trainable "${t.name}": ${data ? `${data.length} values` : 'no value'}, shape [${t.shape.join(', ')}] needs ${count}`,
        );
      feeds[t.name] = tensorData.float32(data, t.shape);
    }
    const rows = batch.batchSize * batch.seqLen;
    const p = this.method.method === 'lora' ? this.method.lora.dropout : 0;
    const rng = dropoutSeed === undefined ? undefined : SeededRandom.fromSeed(dropoutSeed);
    for (const mask of graph.dropoutMasks) {
      // Same per-module streams as the SFT engine; evaluation keeps everything (all ones).
      feeds[mask.name] = tensorData.float32(
        rng
          ? rng.split(mask.name).dropoutMask(rows * mask.width, p)
          : new Float32Array(rows * mask.width).fill(1),
        [rows, mask.width],
      );
    }
    const out = await runner.run(feeds);
    const grads = new Map<string, Float32Array>();
    if (graph.withGradients) {
      for (const t of graph.trainables) {
        const grad = out[gradOutputName(t.name)]?.data;
        if (!(grad instanceof Float32Array))
          throw new Error(`DPO graph returned no gradient for "${t.name}"`);
        grads.set(t.name, grad);
      }
    }
    const loss = out[LOSS_OUTPUT]?.data[0];
    const pairLosses = out[PAIR_LOSSES_OUTPUT]?.data;
    const sums = out[SEQUENCE_LOG_PROBS_OUTPUT]?.data;
    if (
      typeof loss !== 'number' ||
      !(pairLosses instanceof Float32Array) ||
      !(sums instanceof Float32Array)
    )
      throw new Error('DPO graph returned no loss or log-probs');
    return {
      loss,
      pairLosses,
      policyLogProbs: sums.map((v, i) => v * (scale[i] ?? 1)),
      referenceLogProbs: reference,
      grads,
    };
  }

  private responseScale(pairs: readonly PreferencePair[]): Float32Array {
    const lengths = responseLengths(pairs);
    return Float32Array.from(lengths, (n) => (this.loss.lossType === 'ipo' ? 1 / n : 1));
  }
}

/** Opens a graph with the model's session options (a 4-bit base's: see engineSessionOptions). */
function open(graph: CausalLmGraph, session: SessionOptions): Promise<GraphRunner> {
  return openFromModelFiles(graph.builder, graph.external, (path) =>
    SessionWorker.create(path, session),
  );
}
