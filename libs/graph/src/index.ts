// @lathe/graph: ONNX graphs built from TypeScript, reverse-mode autodiff over them, and
// onnxruntime-node sessions (in-thread or in a worker thread) to run them.
export type { DType } from './core/dtype.js';
export { isFloatDType } from './core/dtype.js';
export type { Dim, Shape } from './core/shape.js';
export { formatShape } from './core/shape.js';
export { Tensor } from './core/tensor.js';
export type { AttributeValue, Attributes } from './core/attribute.js';
export { attr } from './core/attribute.js';
export type { GraphNode } from './core/graph-node.js';
export type { ExternalDataRef, Initializer, TypedArrayData } from './core/initializer.js';
export type { GraphBuilderOptions, GraphOutput } from './core/graph-core.js';
export { GraphCore } from './core/graph-core.js';
export type { GemmOptions, SoftmaxCrossEntropyOutputs } from './core/graph-builder.js';
export { GraphBuilder } from './core/graph-builder.js';
export type { GradContext, InferContext, OpDefinition, OutputInfo } from './core/op-definition.js';
export { findOp, listOps } from './ops/op-registry.js';
export type { GradientOptions } from './autodiff/gradients.js';
export { gradients } from './autodiff/gradients.js';
export type { CheckpointSegment } from './autodiff/checkpoint-segments.js';
export { sumToShape } from './autodiff/sum-to-shape.js';
export { silu } from './composites/silu.js';
export { rmsNorm } from './composites/rms-norm.js';
export { tokenNll } from './composites/token-nll.js';
export { attentionBias } from './composites/attention-bias.js';
export type { Bnb4Layout, Bnb4Type, MatMulBnb4Options } from './composites/bnb4.js';
export {
  bnb4Blocks,
  bnb4Codebook,
  bnb4PairTable,
  dequantizeBnb4,
  isBnb4Codebook,
  matMulBnb4,
} from './composites/bnb4.js';
export type { SerializeOptions } from './onnx/model-proto.js';
export { serializeModel } from './onnx/model-proto.js';
export { writeModelFile } from './onnx/write-model-file.js';
export { readModelOps } from './onnx/read-model-ops.js';
export type { TensorData, TensorMap } from './session/tensor-data.js';
export { tensorData } from './session/tensor-data.js';
export type { SessionOptions } from './session/session-options.js';
export type { GraphRunner } from './session/graph-runner.js';
export type { ModelSource } from './session/graph-session.js';
export { GraphSession } from './session/graph-session.js';
export { SessionWorker } from './session/session-worker.js';
export type {
  GradientCheckCase,
  GradientCheckResult,
  InputGradientCheck,
} from './testing/check-gradients.js';
export { checkGradients } from './testing/check-gradients.js';
export { seededUniform } from './testing/seeded-uniform.js';
