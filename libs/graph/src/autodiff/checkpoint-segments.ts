import { isFloatDType } from '../core/dtype.js';
import type { GraphBuilder } from '../core/graph-builder.js';
import type { GraphNode } from '../core/graph-node.js';
import type { Tensor } from '../core/tensor.js';

/**
 * A run of forward nodes, by position in the builder's node list, whose intermediate tensors the
 * backward recomputes instead of keeping them from the forward (activation checkpointing, Chen
 * et al. 2016, "Training Deep Nets with Sublinear Memory Cost"). Typically one decoder layer.
 */
export interface CheckpointSegment {
  /** Index of the segment's first node. */
  readonly start: number;
  /** Index one past its last node. */
  readonly end: number;
}

/**
 * For each segment, the tensors it produces that only its own nodes read: those the backward
 * recomputes. What a segment produces for later nodes, the loss or a graph output (its result,
 * the next segment's input) stays kept: it is the checkpoint.
 */
export function internalTensors(
  nodes: readonly GraphNode[],
  segments: readonly CheckpointSegment[],
  kept: ReadonlySet<string>,
): Map<string, number> {
  const internal = new Map<string, number>();
  const segmentOfNode = new Int32Array(nodes.length).fill(-1);
  segments.forEach((s, i) => {
    if (!Number.isInteger(s.start) || !Number.isInteger(s.end) || s.start < 0 || s.end < s.start)
      throw new Error(`checkpoint segment ${i}: [${s.start}, ${s.end}) is not a node range`);
    if (s.end > nodes.length)
      throw new Error(
        `checkpoint segment ${i}: [${s.start}, ${s.end}) ends past the ${nodes.length} nodes built`,
      );
    for (let n = s.start; n < s.end; n++) {
      if (segmentOfNode[n] !== -1)
        throw new Error(`checkpoint segments ${segmentOfNode[n]} and ${i} overlap at node ${n}`);
      segmentOfNode[n] = i;
    }
  });
  nodes.forEach((node, n) => {
    const s = segmentOfNode[n] ?? -1;
    if (s >= 0) for (const out of node.outputs) if (!kept.has(out.name)) internal.set(out.name, s);
  });
  nodes.forEach((node, n) => {
    for (const input of node.inputs) {
      if (input === undefined) continue;
      const s = internal.get(input.name);
      if (s !== undefined && s !== segmentOfNode[n]) internal.delete(input.name);
    }
  });
  return internal;
}

/**
 * `t`, but computed only once `dependency` exists: t + 0, where the 0 is derived from
 * `dependency`'s size. The backward gates a recomputed segment on the gradient that reaches it,
 * so the scheduler cannot run the recomputation during the forward (and keep its result alive as
 * long as without checkpointing). The size must not be constant-foldable (a symbolic dim), or
 * onnxruntime may fold the 0 away and the gate with it (results are the same either way).
 */
export function afterDependency(g: GraphBuilder, t: Tensor, dependency: Tensor): Tensor {
  const size = g.node1('Size', [dependency]); // int64 []
  const zero = g.sub(size, size);
  return g.add(t, t.dtype === 'int64' ? zero : g.cast(zero, t.dtype)); // float or int64 t
}

/**
 * Emits fresh copies of a segment's internal tensors on demand: each needed tensor's producer is
 * emitted again with its inputs mapped by `read` (which gives recomputed copies of internal
 * tensors, or other substitutes), and nodes left reading forward tensors only are gated on the
 * gradient given at the segment's first demand.
 */
export class SegmentReplay {
  private readonly gates = new Map<string, Tensor>();
  private readonly emitted = new Map<GraphNode, Tensor[]>();

  constructor(
    private readonly g: GraphBuilder,
    private readonly dependency: Tensor,
    private readonly read: (t: Tensor) => Tensor,
  ) {}

  /** Emits `t`'s producer again (once for all its outputs) and returns the copy of `t`. */
  copy(t: Tensor): Tensor {
    const node = t.producer;
    if (!node) throw new Error(`cannot recompute ${t.name}: it has no producer`);
    const k = node.outputs.indexOf(t);
    const out = (this.emitted.get(node) ?? this.emit(node))[k];
    if (!out) throw new Error(`recomputing ${node.opType} gave no output ${k}`);
    return out;
  }

  private emit(node: GraphNode): Tensor[] {
    const inputs = node.inputs.map((input) => (input === undefined ? undefined : this.read(input)));
    const readsForwardOnly = inputs.every((input, k) => input === node.inputs[k]);
    if (readsForwardOnly && inputs.some((input) => input !== undefined)) {
      // Every input is a forward tensor: wait for the gradient through one of them (a float one
      // first: shape values of int64 tensors feed shape inference downstream).
      const float = node.inputs.findIndex((x) => x !== undefined && isFloatDType(x.dtype));
      const at = float >= 0 ? float : node.inputs.findIndex((x) => x?.dtype === 'int64');
      const gated = node.inputs[at];
      if (!gated)
        throw new Error(
          `cannot recompute ${node.opType} after the gradient: it reads no float or int64 tensor`,
        );
      inputs[at] = this.gate(gated);
    }
    const outputs = this.g.node(node.opType, inputs, node.attributes, {
      outputs: node.outputs.length,
      domain: node.domain,
      domainVersion: this.g.opsetImports.get(node.domain),
    });
    this.emitted.set(node, outputs);
    return outputs;
  }

  private gate(t: Tensor): Tensor {
    let gated = this.gates.get(t.name);
    if (!gated) {
      gated = afterDependency(this.g, t, this.dependency);
      this.gates.set(t.name, gated);
    }
    return gated;
  }
}
