// @lathe/llm: models of the Llama family, tokenizers, LoRA, training and generation on @lathe/graph.

// Model files (M).
export { ModelFileError } from './config/model-file-error.js';
export { parseLlamaConfig, readLlamaConfig } from './config/llama-config.js';
export type { Architecture, LlamaConfig, RopeScaling } from './config/llama-config.js';
export { ropeInverseFrequencies, ropeTables } from './config/rope.js';
export type { SafetensorsDtype } from './safetensors/dtype.js';
export { MAX_HEADER_BYTES, parseSafetensorsHeader } from './safetensors/header.js';
export type { SafetensorsEntry, SafetensorsHeader } from './safetensors/header.js';
export {
  decodeSafetensors,
  parseSafetensorsBuffer,
  readSafetensors,
} from './safetensors/read-safetensors.js';
export type { Float32Tensor, SafetensorsContents } from './safetensors/read-safetensors.js';
export { encodeSafetensors, writeSafetensors } from './safetensors/write-safetensors.js';
export { readModelWeights } from './safetensors/read-model-weights.js';
export { TextTokenizer } from './tokenizer/text-tokenizer.js';
export type { EncodeOptions } from './tokenizer/text-tokenizer.js';
export { ChatTemplate } from './tokenizer/chat-template.js';
export type { ChatMessage } from './tokenizer/chat-template.js';
export {
  PROJECTIONS,
  loadLlamaModel,
  parameterShapes,
  projectionHasBias,
  projectionModule,
  projectionShape,
} from './model/llama-model.js';
export type { LlamaModel, Projection } from './model/llama-model.js';
