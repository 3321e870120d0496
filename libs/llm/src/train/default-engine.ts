import { createLlamaEngine } from '../model/llama-engine.js';
import type { LlamaModel } from '../model/llama-model.js';
import type { EngineMethod, TrainingEngine } from './training-engine.js';

/**
 * The engine {@link train} and {@link evaluateSft} use unless told otherwise: this library's Llama
 * causal-LM graph in a worker-thread onnxruntime session.
 */
export function createDefaultEngine(
  model: LlamaModel,
  method: EngineMethod,
): Promise<TrainingEngine> {
  return createLlamaEngine(model, method);
}
