import * as ort from 'onnxruntime-node';
import type { DType } from '../core/dtype.js';
import type { TypedArrayData } from '../core/initializer.js';
import type { GraphRunner } from './graph-runner.js';
import { toOrtOptions, type SessionOptions } from './session-options.js';
import type { TensorData, TensorMap } from './tensor-data.js';

/** A model to load: its bytes, or the path of a model file (external data beside it). */
export type ModelSource = Uint8Array | string;

/**
 * An onnxruntime-node InferenceSession in the calling thread. Built once per graph and reused
 * for every run. `run` blocks the event loop while onnxruntime computes: services and trainers
 * that must stay responsive use {@link SessionWorker} instead.
 */
export class GraphSession implements GraphRunner {
  private closed = false;

  private constructor(private readonly session: ort.InferenceSession) {}

  /** Creates a session from model bytes or a model file path. */
  static async create(model: ModelSource, options: SessionOptions = {}): Promise<GraphSession> {
    const ortOptions = toOrtOptions(options);
    try {
      const session =
        typeof model === 'string'
          ? await ort.InferenceSession.create(model, ortOptions)
          : await ort.InferenceSession.create(model, ortOptions);
      return new GraphSession(session);
    } catch (cause) {
      const what =
        typeof model === 'string' ? `model ${model}` : `model of ${model.byteLength} bytes`;
      throw new Error(`cannot create onnxruntime session for ${what}: ${errorMessage(cause)}`, {
        cause,
      });
    }
  }

  /** Graph input names. */
  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  /** Graph output names. */
  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Runs the graph once; see {@link GraphRunner.run}. */
  async run(feeds: TensorMap, outputNames?: readonly string[]): Promise<TensorMap> {
    if (this.closed) throw new Error('session is closed');
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const name of this.session.inputNames) {
      const feed = feeds[name];
      if (!feed) throw new Error(`missing feed for graph input ${name}`);
      ortFeeds[name] = toOrtTensor(name, feed);
    }
    const results = outputNames
      ? await this.session.run(ortFeeds, [...outputNames])
      : await this.session.run(ortFeeds);
    const out: Record<string, TensorData> = {};
    for (const [name, t] of Object.entries(results)) {
      out[name] = {
        dtype: fromOrtType(name, t.type),
        dims: [...t.dims],
        data: t.data as TypedArrayData,
      };
    }
    return out;
  }

  /** Releases onnxruntime's session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.release();
  }
}

function toOrtTensor(name: string, feed: TensorData): ort.Tensor {
  const count = feed.dims.reduce((n, d) => n * d, 1);
  if (feed.data.length !== count) {
    throw new Error(
      `feed ${name}: dims [${feed.dims.join(', ')}] need ${count} elements, data has ${feed.data.length}`,
    );
  }
  if (feed.dtype === 'bool') return new ort.Tensor('bool', feed.data as Uint8Array, [...feed.dims]);
  return new ort.Tensor(feed.dtype, feed.data as Exclude<TypedArrayData, Int8Array | Uint16Array>, [
    ...feed.dims,
  ]);
}

function fromOrtType(name: string, type: string): DType {
  switch (type) {
    case 'float32':
    case 'float64':
    case 'float16':
    case 'int64':
    case 'int32':
    case 'uint8':
    case 'int8':
    case 'bool':
      return type;
    default:
      throw new Error(`output ${name} has unsupported type ${type}`);
  }
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
