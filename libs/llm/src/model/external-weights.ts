import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { writeModelFile, type ExternalDataRef, type GraphBuilder } from '@lathe/graph';

/**
 * Frozen weights kept out of the ONNX protobuf, as ONNX external data in one file beside the
 * model file. Why: protobuf caps a model at 2 GB (a 1B-parameter model in fp32 is 4 GB), and a
 * session created from a path reads the weights from disk instead of from copies of the
 * serialized model in both threads.
 */
export class ExternalWeights {
  /** File name of the weights, relative to the model file (onnxruntime requires the same folder). */
  static readonly FILE = 'weights.bin';
  private readonly chunks: (Float32Array | Uint8Array)[] = [];
  private size = 0;

  /** Registers a tensor's data (fp32 values or raw bytes) and returns where the model file will find it. */
  add(data: Float32Array | Uint8Array): ExternalDataRef {
    const ref = { location: ExternalWeights.FILE, offset: this.size, length: data.byteLength };
    this.chunks.push(data);
    this.size += data.byteLength;
    return ref;
  }

  /** Bytes registered so far. */
  get byteLength(): number {
    return this.size;
  }

  /** Writes the weights file into `dir`. */
  async write(dir: string): Promise<void> {
    const out = createWriteStream(join(dir, ExternalWeights.FILE));
    for (const chunk of this.chunks) {
      if (!out.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)))
        await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
  }
}

/**
 * Writes a graph and its external weights to a fresh temporary folder, opens a session from the
 * model file with `open`, and removes the folder afterwards: onnxruntime has read (or mapped)
 * the weights by the time the session exists, and a mapped file stays valid after unlinking.
 */
export async function openFromModelFiles<T>(
  graph: GraphBuilder,
  weights: ExternalWeights,
  open: (modelPath: string) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'lathe-model-'));
  try {
    await weights.write(dir);
    const modelPath = join(dir, 'model.onnx');
    await writeModelFile(graph, modelPath);
    return await open(modelPath);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
