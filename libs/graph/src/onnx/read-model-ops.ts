import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';

/**
 * Op types of the nodes of an ONNX model file, in order, with the names of its initializers:
 * for inspecting what onnxruntime made of a graph (see `SessionOptions.optimizedModelPath`).
 */
export async function readModelOps(
  path: string,
): Promise<{ ops: string[]; initializers: string[] }> {
  const model = onnxProto.onnx.ModelProto.decode(await readFile(path));
  const graph = model.graph;
  if (!graph) throw new Error(`${path}: model has no graph`);
  return {
    ops: (graph.node ?? []).map((n) => n.opType ?? ''),
    initializers: (graph.initializer ?? []).map((t) => t.name ?? ''),
  };
}
