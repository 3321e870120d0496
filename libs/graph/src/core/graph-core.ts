import { findOp } from '../ops/op-registry.js';
import type { Attributes } from './attribute.js';
import { dtypeByteSize, type DType } from './dtype.js';
import type { GraphNode } from './graph-node.js';
import type { OutputInfo } from './op-definition.js';
import {
  isExternalData,
  type ExternalDataRef,
  type Initializer,
  type TypedArrayData,
} from './initializer.js';
import { formatShape, shapeSize, type Shape } from './shape.js';
import { Tensor } from './tensor.js';

/** Options of a graph under construction. */
export interface GraphBuilderOptions {
  /** Graph name written into the model. Default `'lathe'`. */
  readonly name?: string;
  /** ai.onnx opset version. Default 18 (axes of ReduceMean as an input, Split's num_outputs). */
  readonly opset?: number;
}

/** A graph output: the tensor and the name callers see. */
export interface GraphOutput {
  readonly name: string;
  readonly tensor: Tensor;
}

/**
 * Storage and node emission of a graph: inputs, initializers, nodes in topological order,
 * outputs, and unique naming. {@link GraphBuilder} adds one typed method per op on top.
 */
export class GraphCore {
  /** Graph name. */
  readonly name: string;
  /** ai.onnx opset version. */
  readonly opset: number;
  private readonly nodeList: GraphNode[] = [];
  private readonly inputList: Tensor[] = [];
  private readonly initializerList: Initializer[] = [];
  private readonly outputList: GraphOutput[] = [];
  private readonly usedNames = new Set<string>();
  private readonly constantCache = new Map<string, Tensor>();
  private readonly domains = new Map<string, number>();
  private counter = 0;
  private substitute: ((t: Tensor) => Tensor) | undefined;

  constructor(options: GraphBuilderOptions = {}) {
    this.name = options.name ?? 'lathe';
    this.opset = options.opset ?? 18;
  }

  /** Nodes in creation order (a topological order). */
  get nodes(): readonly GraphNode[] {
    return this.nodeList;
  }
  /** Graph inputs in declaration order. */
  get inputs(): readonly Tensor[] {
    return this.inputList;
  }
  /** Initializers in declaration order. */
  get initializers(): readonly Initializer[] {
    return this.initializerList;
  }
  /** Graph outputs in declaration order. */
  get outputs(): readonly GraphOutput[] {
    return this.outputList;
  }
  /** Non-default op domains used, with their versions. */
  get opsetImports(): ReadonlyMap<string, number> {
    return this.domains;
  }

  /** Declares a graph input (fed every run). Dims may be symbolic names such as `'B'`. */
  input(name: string, dtype: DType, shape: Shape): Tensor {
    this.claim(name);
    const t = new Tensor(name, dtype, shape, undefined);
    this.inputList.push(t);
    return t;
  }

  /**
   * Declares an initializer: a constant owned by the session, inline or in an external file.
   * Frozen weights go here so they are never copied from JS on each run.
   */
  initializer(
    name: string,
    dtype: DType,
    dims: readonly number[],
    data: TypedArrayData | ExternalDataRef,
  ): Tensor {
    this.claim(name);
    const bytes = shapeSize(dims) * dtypeByteSize(dtype);
    const given = isExternalData(data) ? data.length : data.byteLength;
    if (given !== bytes) {
      throw new Error(
        `initializer ${name}: ${formatShape(dims)} ${dtype} needs ${bytes} bytes, data has ${given}`,
      );
    }
    const t = new Tensor(name, dtype, dims, undefined);
    this.initializerList.push({ tensor: t, dtype, dims, data });
    return t;
  }

  /**
   * A constant tensor (an auto-named initializer). Small constants are shared: asking twice for
   * the same values returns the same tensor.
   */
  constant(dtype: DType, dims: readonly number[], values: readonly number[]): Tensor {
    const count = shapeSize(dims);
    if (values.length !== count) {
      throw new Error(
        `constant ${formatShape(dims)}: expected ${count} values, got ${values.length}`,
      );
    }
    const cacheKey = count <= 64 ? `${dtype}|${dims.join(',')}|${values.join(',')}` : undefined;
    const cached = cacheKey === undefined ? undefined : this.constantCache.get(cacheKey);
    if (cached) return cached;
    const name = this.uniqueName('const');
    this.claim(name);
    const isInt = dtype === 'int64' || dtype === 'int32';
    const t = new Tensor(name, dtype, dims, undefined, isInt ? [...values] : undefined);
    this.initializerList.push({ tensor: t, dtype, dims, data: toTypedArray(dtype, values) });
    if (cacheKey !== undefined) this.constantCache.set(cacheKey, t);
    return t;
  }

  /** A rank-0 constant. Default dtype float32. */
  scalar(value: number, dtype: DType = 'float32'): Tensor {
    return this.constant(dtype, [], [value]);
  }

  /** A rank-0 constant with the dtype of `like` (keeps float64 graphs float64). */
  scalarLike(like: Tensor, value: number): Tensor {
    return this.constant(like.dtype, [], [value]);
  }

  /** A 1-D int64 constant (shapes, axes, starts). */
  int64s(values: readonly number[]): Tensor {
    return this.constant('int64', [values.length], values);
  }

  /**
   * Emits one node. Output types and shapes come from the op's registry entry; ops the registry
   * does not know get the first input's dtype and an unknown shape.
   */
  node(
    opType: string,
    inputs: readonly (Tensor | undefined)[],
    attributes: Attributes = {},
    options: {
      readonly outputs?: number;
      readonly domain?: string;
      readonly domainVersion?: number;
    } = {},
  ): Tensor[] {
    const substitute = this.substitute;
    if (substitute) {
      // Nodes the substitution emits (copies) read their inputs as given.
      this.substitute = undefined;
      try {
        inputs = inputs.map((t) => t && substitute(t));
      } finally {
        this.substitute = substitute;
      }
    }
    const domain = options.domain ?? '';
    if (domain !== '') this.domains.set(domain, options.domainVersion ?? 1);
    const outputCount = options.outputs ?? 1;
    const def = findOp(domain, opType);
    const infos: OutputInfo[] = def
      ? def.infer({ opType, inputs, attributes, outputCount })
      : Array.from({ length: outputCount }, () => ({
          dtype: inputs[0]?.dtype ?? 'float32',
          shape: undefined,
        }));
    const outputs: Tensor[] = [];
    const node: GraphNode = {
      index: this.nodeList.length,
      opType,
      domain,
      inputs,
      outputs,
      attributes,
    };
    for (let i = 0; i < outputCount; i++) {
      const info = infos[i];
      if (!info)
        throw new Error(
          `${opType}: inference gave ${infos.length} outputs, ${outputCount} requested`,
        );
      const name = this.uniqueName(opType);
      this.claim(name);
      outputs.push(
        new Tensor(name, info.dtype, info.shape, node, info.constValues, info.shapeValues),
      );
    }
    this.nodeList.push(node);
    return outputs;
  }

  /**
   * Runs `emit` with each node it emits reading `substitute(input)` instead of each input, so
   * a copy is made only of what a node consumes, just before that node (the backward reads
   * recomputed copies of forward tensors this way). Nodes emitted by `substitute` itself read
   * their inputs as given.
   */
  withInputSubstitution<T>(substitute: (t: Tensor) => Tensor, emit: () => T): T {
    if (this.substitute) throw new Error('input substitutions cannot be nested');
    this.substitute = substitute;
    try {
      return emit();
    } finally {
      this.substitute = undefined;
    }
  }

  /** Emits a node with one output and returns it. */
  node1(
    opType: string,
    inputs: readonly (Tensor | undefined)[],
    attributes: Attributes = {},
  ): Tensor {
    const [out] = this.node(opType, inputs, attributes);
    if (!out) throw new Error(`${opType}: no output`);
    return out;
  }

  /** Marks a tensor as a graph output under `name` (through an Identity when renamed). */
  output(name: string, tensor: Tensor): void {
    if (this.outputList.some((o) => o.name === name))
      throw new Error(`graph output ${name} is declared twice`);
    if (tensor.name === name) {
      this.outputList.push({ name, tensor });
      return;
    }
    this.claim(name);
    const outputs: Tensor[] = [];
    const node: GraphNode = {
      index: this.nodeList.length,
      opType: 'Identity',
      domain: '',
      inputs: [tensor],
      outputs,
      attributes: {},
    };
    const out = new Tensor(name, tensor.dtype, tensor.shape, node);
    outputs.push(out);
    this.nodeList.push(node);
    this.outputList.push({ name, tensor: out });
  }

  private uniqueName(base: string): string {
    let name: string;
    do name = `${base}_${this.counter++}`;
    while (this.usedNames.has(name));
    return name;
  }

  private claim(name: string): void {
    if (this.usedNames.has(name)) throw new Error(`graph value name ${name} is already used`);
    this.usedNames.add(name);
  }
}

function toTypedArray(dtype: DType, values: readonly number[]): TypedArrayData {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values);
    case 'float64':
      return Float64Array.from(values);
    case 'int64':
      return BigInt64Array.from(values, (v) => BigInt(v));
    case 'int32':
      return Int32Array.from(values);
    case 'uint8':
    case 'bool':
      return Uint8Array.from(values);
    case 'int8':
      return Int8Array.from(values);
    case 'float16':
      throw new Error(
        'float16 constants from numbers are not supported; pass an initializer with Uint16Array data',
      );
  }
}
