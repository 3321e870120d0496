import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../core/graph-builder.js';
import { serializeModel } from '../onnx/model-proto.js';
import { readModelOps } from '../onnx/read-model-ops.js';
import { writeModelFile } from '../onnx/write-model-file.js';
import { GraphSession } from './graph-session.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A data file shaped like a .safetensors file: some header bytes, then the tensor at an odd offset. */
async function weightsFile(dir: string, values: Float32Array, headerBytes: number): Promise<void> {
  const bytes = new Uint8Array(headerBytes + values.byteLength);
  bytes.fill(0x7b, 0, headerBytes);
  bytes.set(new Uint8Array(values.buffer), headerBytes);
  await writeFile(join(dir, 'weights.bin'), bytes);
}

/** y = x · W with W an external initializer at `offset` of weights.bin. */
function externalGraph(offset: number): GraphBuilder {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', ['B', 2]);
  const w = g.initializer('w', 'float32', [2, 3], { location: 'weights.bin', offset, length: 24 });
  g.output('y', g.matmul(x, w));
  return g;
}

const W = Float32Array.from([1, 2, 3, 4, 5, 6]);
const X = { dtype: 'float32' as const, dims: [1, 2], data: Float32Array.from([1, 10]) };
const XW = [41, 52, 63];

describe('GraphSession', () => {
  it('reads frozen weights from an external file at an unaligned offset (model written beside it)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lathe-graph-'));
    dirs.push(dir);
    await weightsFile(dir, W, 13);
    await writeModelFile(externalGraph(13), join(dir, 'model.onnx'));
    const session = await GraphSession.create(join(dir, 'model.onnx'));
    const out = await session.run({ x: X });
    expect(Array.from(out['y']?.data as Float32Array)).toEqual(XW);
    await session.close();
  });

  it('loads a model from bytes with its external data passed in memory', async () => {
    const bytes = new Uint8Array(8 + 24);
    bytes.set(new Uint8Array(W.buffer), 8);
    const session = await GraphSession.create(serializeModel(externalGraph(8)), {
      externalData: [{ path: 'weights.bin', data: bytes }],
      disabledOptimizers: ['ConstantFolding'],
      graphOptimizationLevel: 'extended',
      intraOpThreads: 1,
      prepackWeights: false,
    });
    expect(Array.from((await session.run({ x: X }))['y']?.data as Float32Array)).toEqual(XW);
    await session.close();
  });

  it('keeps in-graph dequantization unfolded when ConstantFolding is disabled', async () => {
    // uint8 codes · scale as an initializer chain, the shape NF4 weights take in a QLoRA graph.
    const build = (): Uint8Array => {
      const g = new GraphBuilder();
      const x = g.input('x', 'float32', ['B', 2]);
      const codes = g.initializer('codes', 'uint8', [2, 3], Uint8Array.from([1, 2, 3, 4, 5, 6]));
      const w = g.mul(g.cast(codes, 'float32'), g.scalar(1));
      g.output('y', g.matmul(x, w));
      return serializeModel(g);
    };
    const dir = await mkdtemp(join(tmpdir(), 'lathe-graph-'));
    dirs.push(dir);
    const folded = join(dir, 'folded.onnx');
    const kept = join(dir, 'kept.onnx');
    const a = await GraphSession.create(build(), {
      optimizedModelPath: folded,
      graphOptimizationLevel: 'basic',
    });
    const b = await GraphSession.create(build(), {
      optimizedModelPath: kept,
      graphOptimizationLevel: 'basic',
      disabledOptimizers: ['ConstantFolding'],
    });
    expect((await readModelOps(folded)).ops).not.toContain('Cast');
    expect((await readModelOps(kept)).ops).toContain('Cast');
    for (const s of [a, b]) {
      expect(Array.from((await s.run({ x: X }))['y']?.data as Float32Array)).toEqual(XW);
      await s.close();
    }
  });

  it('reuses one session across batch sizes (symbolic dims)', async () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', ['B', 'T']);
    g.output('s', g.reduceSum(x, [1], false));
    const session = await GraphSession.create(serializeModel(g));
    const a = await session.run({
      x: { dtype: 'float32', dims: [1, 3], data: Float32Array.from([1, 2, 3]) },
    });
    const b = await session.run({
      x: { dtype: 'float32', dims: [2, 2], data: Float32Array.from([1, 2, 3, 4]) },
    });
    expect(Array.from(a['s']?.data as Float32Array)).toEqual([6]);
    expect(Array.from(b['s']?.data as Float32Array)).toEqual([3, 7]);
    expect(b['s']?.dims).toEqual([2]);
    await session.close();
  });

  it('names the input when a feed is missing or has the wrong size', async () => {
    const session = await GraphSession.create(serializeModel(externalGraphInline()));
    await expect(session.run({})).rejects.toThrow('missing feed for graph input x');
    await expect(
      session.run({ x: { dtype: 'float32', dims: [1, 2], data: new Float32Array(3) } }),
    ).rejects.toThrow('feed x: dims [1, 2] need 2 elements, data has 3');
    await session.close();
    await expect(session.run({ x: X })).rejects.toThrow('session is closed');
  });

  it('says which model could not be loaded', async () => {
    await expect(GraphSession.create('/nonexistent/model.onnx')).rejects.toThrow(
      /cannot create onnxruntime session for model \/nonexistent\/model.onnx/,
    );
  });
});

function externalGraphInline(): GraphBuilder {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', ['B', 2]);
  g.output('y', g.matmul(x, g.initializer('w', 'float32', [2, 3], W)));
  return g;
}
