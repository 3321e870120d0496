import { SessionWorker, tensorData, type GraphRunner, type TensorData } from '@lathe/graph';
import type { TrainingBatch } from '../data/training-batch.js';
import { openFromModelFiles } from '../model/external-weights.js';
import type { LlamaModel } from '../model/llama-model.js';
import { SEQUENCE_LOG_PROBS_OUTPUT, buildCausalLmGraph } from '../model/training-graph.js';
import { createLoraConfig } from '../peft/lora-config.js';
import { engineSessionOptions, type LlamaEngineOptions } from '../model/llama-engine.js';
import { batchFeeds } from './batch-feeds.js';

/**
 * Summed response log-probs under a frozen model (DPO's reference). It reuses the forward-only
 * causal-LM graph with every weight frozen as an initializer: the graph is built with a rank-1
 * adapter on one projection that is fed zeros, so the adapter adds exactly 0 and the model is
 * the reference unchanged, without feeding every weight on every run as full fine-tuning would.
 */
export class ReferenceScorer {
  private constructor(
    private readonly runner: GraphRunner,
    private readonly zeros: Record<string, TensorData>,
  ) {}

  /** Opens a forward-only session on `model` (the base, or a separately given reference). */
  static async create(
    model: LlamaModel,
    options: LlamaEngineOptions = {},
  ): Promise<ReferenceScorer> {
    const lora = createLoraConfig({ r: 1, alpha: 1, targetModules: ['q_proj'] });
    const graph = buildCausalLmGraph(model, { method: 'lora', lora }, false);
    const zeros: Record<string, TensorData> = {};
    for (const t of graph.trainables) {
      const count = t.shape.reduce((a, d) => a * d, 1);
      zeros[t.name] = tensorData.float32(new Float32Array(count), t.shape);
    }
    const runner = await openFromModelFiles(graph.builder, graph.external, (path) =>
      SessionWorker.create(path, engineSessionOptions(model, options.session)),
    );
    return new ReferenceScorer(runner, zeros);
  }

  /** Summed target log-probs of each row of the batch. */
  async sequenceLogProbs(batch: TrainingBatch): Promise<Float32Array> {
    const out = await this.runner.run({ ...batchFeeds(batch, 1), ...this.zeros }, [
      SEQUENCE_LOG_PROBS_OUTPUT,
    ]);
    const data = out[SEQUENCE_LOG_PROBS_OUTPUT]?.data;
    if (!(data instanceof Float32Array)) throw new Error('reference graph returned no log-probs');
    return data;
  }

  /** Releases the session and its worker. */
  async close(): Promise<void> {
    await this.runner.close();
  }
}
