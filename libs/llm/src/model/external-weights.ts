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
  private readonly refs = new Map<string, ExternalDataRef>();
  private size = 0;

  /**
   * Registers an initializer's data (fp32 values or raw bytes) under its name and returns where
   * the model file will find it. A name registered before gets the same place: several graphs
   * of one model (training and evaluation) share one weights file.
   */
  add(name: string, data: Float32Array | Uint8Array): ExternalDataRef {
    const known = this.refs.get(name);
    if (known) {
      if (known.length !== data.byteLength)
        throw new Error(
          `external weight "${name}" registered with ${known.length} bytes, now ${data.byteLength}`,
        );
      return known;
    }
    const ref = { location: ExternalWeights.FILE, offset: this.size, length: data.byteLength };
    this.chunks.push(data);
    this.refs.set(name, ref);
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
 * The model files of one model's graphs in a fresh temporary folder: one model file per graph,
 * all reading the one weights file beside them. Kept until {@link ModelFolder.remove}, so a
 * session can be opened later (an evaluation graph on first use) without keeping the weights in
 * JS memory meanwhile.
 */
export class ModelFolder {
  private constructor(private readonly dir: string) {}

  /** Writes the weights file and one `<name>.onnx` per graph. */
  static async write(
    graphs: Readonly<Record<string, GraphBuilder>>,
    weights: ExternalWeights,
  ): Promise<ModelFolder> {
    const folder = new ModelFolder(await mkdtemp(join(tmpdir(), 'lathe-model-')));
    try {
      await weights.write(folder.dir);
      for (const [name, graph] of Object.entries(graphs))
        await writeModelFile(graph, folder.path(name));
      return folder;
    } catch (e) {
      await folder.remove();
      throw e;
    }
  }

  /** The model file of graph `name`. */
  path(name: string): string {
    return join(this.dir, `${name}.onnx`);
  }

  /** Deletes the folder (sessions already open keep what they read or mapped). */
  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
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
  const folder = await ModelFolder.write({ model: graph }, weights);
  try {
    return await open(folder.path('model'));
  } finally {
    await folder.remove();
  }
}
