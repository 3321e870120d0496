import type { GraphBuilder, Tensor } from '@lathe/graph';
import type { LlamaConfig } from '../config/llama-config.js';
import type { LoraConfig } from '../peft/lora-config.js';
import type { LoraModuleSpec } from '../peft/peft-names.js';
import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import {
  declare4bitWeight,
  emitDequantize4bit,
  emitMatMul4bit,
  type FourBitGraphWeight,
} from '../quant/dequantize-in-graph.js';
import type { Quantized4bit } from '../quant/quantized-tensor.js';
import type { DecoderWeights } from './decoder-graph.js';
import { ExternalWeights } from './external-weights.js';
import { projectionHasBias, projectionModule, type Projection } from './llama-model.js';

/** A trainable tensor of a graph: its name (PEFT or Hugging Face) and shape. */
export interface TrainableSpec {
  readonly name: string;
  readonly shape: readonly number[];
}

/** LoRA factors of one adapted projection, as graph inputs. */
interface LoraInputs {
  readonly a: Tensor;
  readonly b: Tensor;
  /** Inverted-dropout mask [N, in] on the adapter's input, when dropout > 0. */
  readonly mask: Tensor | undefined;
}

/** Name of the dropout-mask input of an adapted module (fed only when LoRA dropout > 0). */
export function dropoutMaskName(module: string): string {
  return `lora_dropout_mask.${module}`;
}

/**
 * Frozen base weights as initializers in an external data file (onnxruntime prepacks constant
 * Gemm operands), with
 * optional LoRA adapters as inputs: y = x·Wᵀ + b + scale·(mask ⊙ x)·Aᵀ·Bᵀ (Hu et al. 2021,
 * eq. 3; PEFT applies dropout to the adapter's input only).
 *
 * Weights given 4-bit (`quantized`) stay 4-bit in the graph (QLoRA, Dettmers et al. 2023): their
 * packed codes and absmax are the initializers. A projection's x·Wᵀ is onnxruntime's
 * `MatMulBnb4` where its kernel applies (no fp32 copy of W is a graph tensor; the backward
 * dequantizes W once for dY·W); otherwise the fp32 matrix is computed where it is used and
 * {@link FrozenDecoderWeights.recompute} gives the backward pass a fresh copy, so no fp32 copy of
 * a quantized weight lives from the forward to the backward.
 */
export class FrozenDecoderWeights implements DecoderWeights {
  private readonly cache = new Map<string, Tensor>();
  private readonly adapters = new Map<string, LoraInputs>();
  /** The adapter inputs in declaration order (A then B per module). */
  readonly trainables: TrainableSpec[] = [];
  /** The graph inputs of {@link FrozenDecoderWeights.trainables}, in the same order. */
  readonly trainableInputs: Tensor[] = [];
  /** Dropout-mask inputs: name and [in] width (rows are N). */
  readonly dropoutMasks: { name: string; width: number }[] = [];
  /** Declared 4-bit weights by the name of their forward fp32 tensor. */
  private readonly fourBit = new Map<string, FourBitGraphWeight>();
  /** Declared 4-bit weights by weight name. */
  private readonly declared = new Map<string, FourBitGraphWeight>();

  /**
   * @param lora adapters (config and PEFT module specs) to add as trainable inputs, or undefined
   *   for the plain model
   * @param external where the frozen weights' data goes, written beside the model file as ONNX
   *   external data (shared by the graphs of one model); default a fresh one
   * @param fourBitKernel how a 4-bit projection is computed: `matmul-bnb4` (onnxruntime's
   *   MatMulBnb4 where it applies, else in-graph dequantization) or `dequantize` (always
   *   in-graph dequantization, then Gemm). Default `matmul-bnb4`.
   */
  constructor(
    private readonly g: GraphBuilder,
    private readonly config: LlamaConfig,
    private readonly weights: ReadonlyMap<string, Float32Tensor>,
    private readonly lora?: {
      readonly config: LoraConfig;
      readonly modules: readonly LoraModuleSpec[];
    },
    private readonly quantized: ReadonlyMap<string, Quantized4bit> = new Map(),
    readonly external = new ExternalWeights(),
    private readonly fourBitKernel: FourBitKernel = 'matmul-bnb4',
  ) {
    for (const spec of lora?.modules ?? []) {
      const a = g.input(spec.aName, 'float32', spec.aShape);
      const b = g.input(spec.bName, 'float32', spec.bShape);
      this.trainables.push(
        { name: spec.aName, shape: spec.aShape },
        { name: spec.bName, shape: spec.bShape },
      );
      this.trainableInputs.push(a, b);
      let mask: Tensor | undefined;
      if ((lora?.config.dropout ?? 0) > 0) {
        const name = dropoutMaskName(spec.module);
        const width = spec.aShape[1] ?? 0;
        mask = g.input(name, 'float32', ['N', width]);
        this.dropoutMasks.push({ name, width });
      }
      this.adapters.set(spec.module, { a, b, mask });
    }
  }

  weight(name: string): Tensor {
    return this.weightFor(name, undefined);
  }

  /** A weight; a 4-bit one is dequantized once `after` (its activation) exists. */
  private weightFor(name: string, after: Tensor | undefined): Tensor {
    const cached = this.cache.get(name);
    if (cached) return cached;
    const declared = this.fourBitWeight(name);
    if (declared) {
      const t = emitDequantize4bit(this.g, declared, after);
      this.fourBit.set(t.name, declared);
      this.cache.set(name, t);
      return t;
    }
    const w = this.weights.get(name);
    if (!w) throw new Error(`model has no weight "${name}"`);
    const t = this.g.initializer(name, 'float32', w.shape, this.external.add(name, w.data));
    this.cache.set(name, t);
    return t;
  }

  /** A 4-bit weight's initializers, declared on first use; undefined for an fp32 weight. */
  private fourBitWeight(name: string): FourBitGraphWeight | undefined {
    let declared = this.declared.get(name);
    if (declared) return declared;
    const q = this.quantized.get(name);
    if (!q) return undefined;
    declared = declare4bitWeight(this.g, name, q, (n, data) => this.external.add(n, data));
    this.declared.set(name, declared);
    return declared;
  }

  /**
   * For {@link gradients}' `recompute` option: a fresh fp32 copy of a 4-bit weight's forward
   * tensor (emitted where the backward reads it), undefined for any other tensor.
   */
  readonly recompute = (
    t: Tensor,
    gradOutputs: readonly (Tensor | undefined)[],
  ): Tensor | undefined => {
    const declared = this.fourBit.get(t.name);
    return declared && emitDequantize4bit(this.g, declared, gradOutputs.find(Boolean));
  };

  /** x·Wᵀ + b for a frozen weight, through MatMulBnb4 where the weight is 4-bit and it applies. */
  private product(x: Tensor, name: string, bias: Tensor | undefined): Tensor {
    const fourBit = this.fourBitKernel === 'matmul-bnb4' ? this.fourBitWeight(name) : undefined;
    const product = fourBit && emitMatMul4bit(this.g, x, fourBit);
    if (!product) return this.g.gemm(x, this.weightFor(name, x), bias, { transB: true });
    return bias ? this.g.add(product, bias) : product;
  }

  linear(x: Tensor, layer: number, projection: Projection): Tensor {
    const module = projectionModule(layer, projection);
    const bias = projectionHasBias(this.config, projection)
      ? this.weight(`${module}.bias`)
      : undefined;
    const base = this.product(x, `${module}.weight`, bias); // [N, out]
    const adapter = this.adapters.get(module);
    if (!adapter || !this.lora) return base;
    const input = adapter.mask ? this.g.mul(x, adapter.mask) : x;
    const low = this.g.gemm(input, adapter.a, undefined, { transB: true }); // [N, r]
    // One Gemm adds the scaled update to the base output: scale·low·Bᵀ + base.
    return this.g.gemm(low, adapter.b, base, { transB: true, alpha: this.lora.config.scaling });
  }
}

/** How {@link FrozenDecoderWeights} computes a 4-bit projection. */
export type FourBitKernel = 'matmul-bnb4' | 'dequantize';

/** Every weight a graph input (full fine-tuning): the same tensor wherever a weight is used. */
export class TrainableDecoderWeights implements DecoderWeights {
  private readonly inputs = new Map<string, Tensor>();
  /** All parameters in declaration order. */
  readonly trainables: TrainableSpec[] = [];
  /** The graph inputs of {@link TrainableDecoderWeights.trainables}, in the same order. */
  readonly trainableInputs: Tensor[] = [];

  constructor(
    private readonly g: GraphBuilder,
    private readonly config: LlamaConfig,
    shapes: ReadonlyMap<string, readonly number[]>,
  ) {
    for (const [name, shape] of shapes) {
      const t = g.input(name, 'float32', shape);
      this.inputs.set(name, t);
      this.trainables.push({ name, shape });
      this.trainableInputs.push(t);
    }
  }

  weight(name: string): Tensor {
    const t = this.inputs.get(name);
    if (!t) throw new Error(`model has no parameter "${name}"`);
    return t;
  }

  linear(x: Tensor, layer: number, projection: Projection): Tensor {
    const module = projectionModule(layer, projection);
    const bias = projectionHasBias(this.config, projection)
      ? this.weight(`${module}.bias`)
      : undefined;
    return this.g.gemm(x, this.weight(`${module}.weight`), bias, { transB: true });
  }
}
