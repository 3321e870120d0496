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
export { buildDecoder } from './model/decoder-graph.js';
export type { DecoderInputs, DecoderOutputs, DecoderWeights } from './model/decoder-graph.js';
export {
  FrozenDecoderWeights,
  TrainableDecoderWeights,
  dropoutMaskName,
} from './model/decoder-weights.js';
export type { FourBitKernel, TrainableSpec } from './model/decoder-weights.js';
export {
  LOSS_OUTPUT,
  SEQUENCE_LOG_PROBS_OUTPUT,
  buildCausalLmGraph,
  gradOutputName,
} from './model/training-graph.js';
export type { CausalLmGraph, SequenceObjective } from './model/training-graph.js';
export {
  FOUR_BIT_DISABLED_OPTIMIZERS,
  createLlamaEngine,
  engineSessionOptions,
} from './model/llama-engine.js';
export type { LlamaEngineOptions } from './model/llama-engine.js';

// Generation (M).
export { argmax, sampleToken, validateSampling } from './generate/sampling.js';
export type { SamplingOptions } from './generate/sampling.js';
export { TextGenerator } from './generate/text-generator.js';
export type {
  GenerateOptions,
  GenerateResult,
  GeneratorOptions,
} from './generate/text-generator.js';
export { DecoderSession } from './generate/decoder-session.js';
export type { KvCache } from './generate/decoder-session.js';
export { buildDecodingGraph } from './generate/decoding-graph.js';

// Gradients of one batch (M): `lathe grads`.
export { parseTokenBatch, readTokenBatch, tokenBatchFromRows } from './grads/token-batch.js';
export { computeGradients } from './grads/compute-gradients.js';
export type { ComputeGradientsOptions, GradientsResult } from './grads/compute-gradients.js';

// Fine-tuning (T): data, optimizer, PEFT, merge, training loop.
export { DataFileError } from './data/data-file-error.js';
export { readDataFile, parseDataText } from './data/read-data-file.js';
export type { ParsedDataFile, RawRecord, RejectedRecord } from './data/read-data-file.js';
export { normalizeSftRecord } from './data/sft-example.js';
export type { NormalizedRecord, SftExample, SftFormat } from './data/sft-example.js';
export {
  detectPreferenceLayout,
  parsePreferenceRecord,
  PREFERENCE_CONTENT_KEYS,
} from './data/preference-record.js';
export type {
  ParsedPreference,
  PreferenceLayout,
  PreferenceRecord,
  PreferenceTurn,
} from './data/preference-record.js';
export { loadSftData } from './data/load-sft-data.js';
export type { LoadSftDataOptions, SftData, SourcedExample } from './data/load-sft-data.js';
export { renderPlainPrompt, tokenizeExample } from './data/tokenize-example.js';
export type { TokenizedExample } from './data/tokenize-example.js';
export { IGNORE_INDEX, packSequences } from './data/pack-sequences.js';
export type { PackedRow, PackedRows, PackingStats } from './data/pack-sequences.js';
export { toTrainingBatch } from './data/training-batch.js';
export type { TrainingBatch } from './data/training-batch.js';
export { SeededRandom } from './optim/seeded-random.js';
export type { RandomState } from './optim/seeded-random.js';
export { AdamW } from './optim/adamw.js';
export type { AdamWMoments, AdamWOptions, AdamWState } from './optim/adamw.js';
export { createLrSchedule } from './optim/lr-schedule.js';
export type { DecayKind, LrSchedule, LrScheduleConfig } from './optim/lr-schedule.js';
export { clipGradNorm, globalGradNorm } from './optim/grad-clip.js';
export { createLoraConfig } from './peft/lora-config.js';
export type { LoraConfig, LoraOptions } from './peft/lora-config.js';
export { PEFT_PREFIX, loraModules } from './peft/peft-names.js';
export type { LoraModuleSpec } from './peft/peft-names.js';
export { initLoraTensors } from './peft/lora-init.js';
export {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  adapterConfigJson,
  loadLoraAdapter,
  saveLoraAdapter,
} from './peft/adapter-files.js';
export type { LoraAdapter } from './peft/adapter-files.js';
export { mergeLoraWeights } from './merge/merge-lora.js';
export { saveHfModel } from './merge/save-hf-model.js';
export { writeFileAtomic } from './train/write-file-atomic.js';
export {
  CHECKPOINT_FORMAT,
  CheckpointError,
  checkpointName,
  readCheckpoint,
  resolveCheckpointDir,
  writeCheckpoint,
} from './train/checkpoint.js';
export type { Checkpoint, DataPosition, TrainerState } from './train/checkpoint.js';
export {
  TrainConfigError,
  createTrainConfig,
  defaultGradientCheckpointing,
} from './train/train-config.js';
export type { TrainConfig, TrainOptions, TrainingMethod } from './train/train-config.js';
export { CHECKPOINT_POLICIES } from './train/training-engine.js';
export type {
  CheckpointPolicy,
  EngineMethod,
  EngineStepResult,
  TrainingEngine,
  TrainingEngineFactory,
} from './train/training-engine.js';
export type { TrainingEvent, TrainingProgressListener } from './train/training-events.js';
export { TrainingDivergedError } from './train/training-diverged-error.js';
export { train } from './train/trainer.js';
export type { BaseQuantization, TrainHooks, TrainResult } from './train/trainer.js';
export { evaluateSft } from './train/evaluate-sft.js';
export type { EvaluateSftOptions, SftEvaluation } from './train/evaluate-sft.js';
export type { EvalResult } from './train/evaluate-rows.js';
export { mergeAdapterDir } from './merge/merge-adapter-dir.js';

// Quantization (Q): blockwise NF4/FP4 with double quantization, per-row int8, bitsandbytes format.
export { QuantizationError } from './quant/quantization-error.js';
export { BLOCK_SIZES, QUANT_SCHEMES, createQuantConfig } from './quant/quant-config.js';
export type { QuantConfig, QuantOptions, QuantScheme } from './quant/quant-config.js';
export { FP4, NF4 } from './quant/codebooks.js';
export type { FourBitType } from './quant/codebooks.js';
export { DYNAMIC_MAP } from './quant/dynamic-map.js';
export { dequantizeTensor, quantizeTensor } from './quant/quantized-tensor.js';
export type {
  NestedAbsmax,
  Quantized4bit,
  QuantizedInt8,
  QuantizedTensor,
} from './quant/quantized-tensor.js';
export { quantErrorStats } from './quant/quality.js';
export type { QuantErrorStats } from './quant/quality.js';
export { isQuantizedLayer } from './quant/bnb-format.js';
export {
  declare4bitWeight,
  dequantize4bitInGraph,
  emitDequantize4bit,
  emitMatMul4bit,
} from './quant/dequantize-in-graph.js';
export type { FourBitGraphWeight, InitializerStore } from './quant/dequantize-in-graph.js';
export { loadFourBitModel } from './quant/load-four-bit-model.js';
export type { FourBitModel } from './quant/load-four-bit-model.js';
export { quantizeModelDir } from './quant/quantize-model-dir.js';
export type { QuantizationReport, TensorQuantReport } from './quant/quantize-model-dir.js';
export {
  loadModelForInference,
  loadQuantizedModel,
  readBitsAndBytesConfig,
  readQuantizedWeights,
} from './quant/load-quantized-model.js';

// Direct Preference Optimization (D).
export {
  BETA_INPUT,
  LABEL_SMOOTHING_INPUT,
  PAIR_LOSSES_OUTPUT,
  PAIR_WEIGHTS_INPUT,
  REFERENCE_LOG_PROBS_INPUT,
  RESPONSE_SCALE_INPUT,
  dpoObjective,
} from './dpo/dpo-objective.js';
export type { DpoLossType } from './dpo/dpo-objective.js';
export { DpoEngine, createDpoLossConfig } from './dpo/dpo-engine.js';
export type { DpoLossConfig, DpoStepResult } from './dpo/dpo-engine.js';
export { dpoMetrics } from './dpo/dpo-metrics.js';
export type { DpoMetrics } from './dpo/dpo-metrics.js';
export { ReferenceScorer } from './dpo/reference-scorer.js';
export { pairBatch, responseLengths } from './dpo/preference-pair.js';
export type { PreferencePair } from './dpo/preference-pair.js';
export { normalizePreferenceRecord } from './dpo/preference-example.js';
export type {
  NormalizedPreference,
  PreferenceExample,
  PreferenceFormat,
} from './dpo/preference-example.js';
export { loadPreferenceData } from './dpo/load-preference-data.js';
export type { PreferenceData } from './dpo/load-preference-data.js';
export { createPairLimits, tokenizePairs } from './dpo/tokenize-pairs.js';
export type { PairLimits, PairReport, SkippedPair, TokenizedPairs } from './dpo/tokenize-pairs.js';
export { evaluatePairs, trainDpo } from './dpo/train-dpo.js';
export type { DpoEvent, DpoTrainOptions, DpoTrainResult } from './dpo/train-dpo.js';
export { buildStoryPairs } from './dpo/story-pairs.js';
export type { StoryPairRecord } from './dpo/story-pairs.js';
export { parsePairTokens, readPairTokens } from './dpo/read-pair-tokens.js';
export { computeDpoGradients } from './dpo/compute-dpo-gradients.js';
export type { DpoGradientsOptions, DpoGradientsResult } from './dpo/compute-dpo-gradients.js';
