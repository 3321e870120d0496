import type { EngineMethod, TrainingEngine } from './training-engine.js';
import type { LlamaModel } from '../model/llama-model.js';

/**
 * The engine {@link train} uses unless told otherwise: the Llama training graph of this library.
 *
 * NOT DONE: waits for the model graph (libs/llm/src/model) and the graph runner (@lathe/graph).
 */
export function createDefaultEngine(
  model: LlamaModel,
  method: EngineMethod,
): Promise<TrainingEngine> {
  return Promise.reject(
    new Error(
      `the Llama training graph is not available yet (model with ${model.config.numLayers} layers, method ${method.method})`,
    ),
  );
}
