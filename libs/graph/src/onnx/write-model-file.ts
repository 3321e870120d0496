import { writeFile } from 'node:fs/promises';
import type { GraphCore } from '../core/graph-core.js';
import { serializeModel, type SerializeOptions } from './model-proto.js';

/**
 * Serializes a graph and writes it to `path`. Put the file in the folder of any external data
 * it references (for example beside a model's `.safetensors`): onnxruntime only follows
 * external-data locations inside the model file's folder.
 */
export async function writeModelFile(
  graph: GraphCore,
  path: string,
  options: SerializeOptions = {},
): Promise<void> {
  await writeFile(path, serializeModel(graph, options));
}
