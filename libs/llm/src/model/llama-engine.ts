import {
  SessionWorker,
  tensorData,
  type GraphRunner,
  type SessionOptions,
  type TensorData,
} from '@lathe/graph';
import type { TrainingBatch } from '../data/training-batch.js';
import { SeededRandom } from '../optim/seeded-random.js';
import type { EngineMethod, EngineStepResult, TrainingEngine } from '../train/training-engine.js';
import { ExternalWeights, ModelFolder } from './external-weights.js';
import type { LlamaModel } from './llama-model.js';
import {
  LOSS_OUTPUT,
  buildCausalLmGraph,
  gradOutputName,
  type CausalLmGraph,
} from './training-graph.js';

/** What feeding a graph takes (its trainable inputs and dropout masks), without its weights. */
type GraphFeeds = Pick<CausalLmGraph, 'trainables' | 'dropoutMasks'>;

/** Options of {@link createLlamaEngine}. */
export interface LlamaEngineOptions {
  /** onnxruntime session options (threads, execution provider). Default: onnxruntime's defaults. */
  readonly session?: SessionOptions;
}

/**
 * The Llama training engine: the causal-LM training graph (forward, loss, backward) in a
 * worker-thread session, built once and run every micro-batch; the forward-only graph for
 * evaluation is built at the same time, sharing the weights file, and opened on first use. The
 * engine keeps no reference to the model's weights: once the session holds them, a JS copy
 * would only add the base's size to memory (the caller should drop its own as well). Frozen
 * weights are initializers; only the batch, the trainable tensors and their gradients cross
 * into the worker.
 */
export async function createLlamaEngine(
  model: LlamaModel,
  method: EngineMethod,
  options: LlamaEngineOptions = {},
): Promise<TrainingEngine> {
  const session = engineSessionOptions(model, options.session, method);
  const external = new ExternalWeights();
  const graph = buildCausalLmGraph(model, method, true, undefined, external);
  const evaluation = buildCausalLmGraph(model, method, false, undefined, external);
  const files = await ModelFolder.write(
    { train: graph.builder, eval: evaluation.builder },
    external,
  );
  try {
    const runner = await SessionWorker.create(files.path('train'), session);
    const dropout = method.method === 'lora' ? method.lora.dropout : 0;
    return new LlamaEngine(feedsOf(graph), feedsOf(evaluation), runner, files, session, dropout);
  } catch (e) {
    await files.remove();
    throw e;
  }
}

function feedsOf(graph: CausalLmGraph): GraphFeeds {
  return { trainables: graph.trainables, dropoutMasks: graph.dropoutMasks };
}

/**
 * onnxruntime optimizers that would undo a 4-bit base's storage: ConstantFolding folds the
 * in-graph dequantization of each weight into an fp32 initializer at load, and
 * CommonSubexpressionElimination merges the backward's recomputed copy with the forward's, which
 * keeps every fp32 weight alive from the forward to the backward.
 */
export const FOUR_BIT_DISABLED_OPTIMIZERS: readonly string[] = [
  'ConstantFolding',
  'CommonSubexpressionElimination',
];

/**
 * The session options for a model: the caller's, and for a model holding 4-bit weights also
 * {@link FOUR_BIT_DISABLED_OPTIMIZERS} and, unless the caller says otherwise, onnxruntime's arena
 * only with gradient checkpointing. A checkpointed step reuses blocks of the same few sizes layer
 * after layer, which the arena serves with less slack than the C allocator; without
 * checkpointing the step's activations all live at once and the arena, which grows in doublings
 * and never shrinks, overshoots them (bench/src/qlora-step.ts, 158M Llama, 1 x 256: checkpointed
 * 692 MiB with the arena against 712-723 without; not checkpointed 1164 with against 872-916
 * without).
 */
export function engineSessionOptions(
  model: LlamaModel,
  session: SessionOptions = {},
  method?: Pick<EngineMethod, 'gradientCheckpointing'>,
): SessionOptions {
  if ((model.quantized?.size ?? 0) === 0) return session;
  const disabled = new Set([
    ...(session.disabledOptimizers ?? []),
    ...FOUR_BIT_DISABLED_OPTIMIZERS,
  ]);
  return {
    ...session,
    disabledOptimizers: [...disabled],
    memoryArena: session.memoryArena ?? method?.gradientCheckpointing === true,
  };
}

class LlamaEngine implements TrainingEngine {
  readonly trainableShapes: ReadonlyMap<string, readonly number[]>;
  private evalRunner: Promise<GraphRunner> | undefined;

  constructor(
    private readonly graph: GraphFeeds,
    private readonly evaluation: GraphFeeds,
    private readonly runner: GraphRunner,
    private readonly files: ModelFolder,
    private readonly session: SessionOptions,
    private readonly dropout: number,
  ) {
    this.trainableShapes = new Map(graph.trainables.map((t) => [t.name, t.shape]));
  }

  async step(
    batch: TrainingBatch,
    lossWeight: number,
    trainable: ReadonlyMap<string, Float32Array>,
    dropoutSeed: number,
  ): Promise<EngineStepResult> {
    const feeds = this.feeds(this.graph, batch, lossWeight, trainable);
    const p = this.dropout;
    if (this.graph.dropoutMasks.length > 0) {
      // One stream per module, derived from the micro-batch's seed: reproducible and resumable.
      const rng = SeededRandom.fromSeed(dropoutSeed);
      const rows = batch.batchSize * batch.seqLen;
      for (const mask of this.graph.dropoutMasks) {
        feeds[mask.name] = tensorData.float32(
          rng.split(mask.name).dropoutMask(rows * mask.width, p),
          [rows, mask.width],
        );
      }
    }
    const out = await this.runner.run(feeds);
    const grads = new Map<string, Float32Array>();
    for (const t of this.graph.trainables) {
      const grad = out[gradOutputName(t.name)]?.data;
      if (!(grad instanceof Float32Array))
        throw new Error(`training graph returned no gradient for "${t.name}"`);
      grads.set(t.name, grad);
    }
    return { loss: scalar(out[LOSS_OUTPUT]), grads };
  }

  async lossSum(
    batch: TrainingBatch,
    trainable: ReadonlyMap<string, Float32Array>,
  ): Promise<number> {
    this.evalRunner ??= SessionWorker.create(this.files.path('eval'), this.session);
    const runner = await this.evalRunner;
    const graph = this.evaluation;
    const feeds = this.feeds(graph, batch, 1, trainable);
    // Evaluation never drops anything: the masks are all ones.
    const rows = batch.batchSize * batch.seqLen;
    for (const mask of graph.dropoutMasks) {
      feeds[mask.name] = tensorData.float32(new Float32Array(rows * mask.width).fill(1), [
        rows,
        mask.width,
      ]);
    }
    const out = await runner.run(feeds, [LOSS_OUTPUT]);
    return scalar(out[LOSS_OUTPUT]);
  }

  async close(): Promise<void> {
    const evalRunner = this.evalRunner;
    this.evalRunner = undefined;
    try {
      await Promise.all([
        this.runner.close(),
        evalRunner?.then(
          (r) => r.close(),
          () => undefined, // its failure was reported to the lossSum call that started it
        ),
      ]);
    } finally {
      await this.files.remove();
    }
  }

  private feeds(
    graph: GraphFeeds,
    batch: TrainingBatch,
    lossWeight: number,
    trainable: ReadonlyMap<string, Float32Array>,
  ): Record<string, TensorData> {
    const dims = [batch.batchSize, batch.seqLen];
    const feeds: Record<string, TensorData> = {
      input_ids: tensorData.int64(batch.inputIds, dims),
      position_ids: tensorData.int64(batch.positionIds, dims),
      segment_ids: tensorData.int64(batch.segmentIds, dims),
      labels: tensorData.int64(batch.labels, dims),
      loss_weight: tensorData.float32(new Float32Array([lossWeight]), []),
    };
    for (const t of graph.trainables) {
      const data = trainable.get(t.name);
      if (!data) throw new Error(`no value given for trainable tensor "${t.name}"`);
      const count = t.shape.reduce((a, d) => a * d, 1);
      if (data.length !== count) {
        throw new Error(
          `trainable "${t.name}" has ${data.length} values, shape [${t.shape.join(', ')}] needs ${count}`,
        );
      }
      feeds[t.name] = tensorData.float32(data, t.shape);
    }
    return feeds;
  }
}

function scalar(t: TensorData | undefined): number {
  const v = t?.data[0];
  if (typeof v !== 'number') throw new Error('training graph returned no loss');
  return v;
}
