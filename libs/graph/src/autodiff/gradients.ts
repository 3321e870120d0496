import { isFloatDType } from '../core/dtype.js';
import type { GraphBuilder } from '../core/graph-builder.js';
import type { GraphNode } from '../core/graph-node.js';
import { findOp } from '../ops/op-registry.js';
import type { Tensor } from '../core/tensor.js';
import { SegmentReplay, internalTensors, type CheckpointSegment } from './checkpoint-segments.js';

/** Options of {@link gradients}. */
export interface GradientOptions {
  /**
   * Gradient of the final result with respect to `loss` (shape of `loss`). Default: ones, so a
   * scalar loss is differentiated as is.
   */
  readonly seed?: Tensor;
  /** Return zeros instead of throwing for a `wrt` tensor the loss does not depend on. Default false. */
  readonly allowUnused?: boolean;
  /**
   * Rematerialization: for a tensor the backward pass reads, a builder of a fresh copy (or
   * undefined to read the forward tensor), given the incoming gradients of the first node whose
   * rule reads it (the copy may be made to wait for them). Called at most once per tensor, while
   * the backward is emitted, so the forward tensor can be freed after its last forward use (e.g. a
   * 4-bit weight dequantized again instead of kept in fp32 from the forward to the backward).
   * Default: none.
   */
  readonly recompute?: (
    t: Tensor,
    gradOutputs: readonly (Tensor | undefined)[],
  ) => Tensor | undefined;
  /**
   * Activation checkpointing: node ranges (e.g. one per decoder layer) whose intermediate
   * tensors the backward recomputes from the segment's inputs instead of keeping them alive from
   * the forward. A segment is replayed, gated on the gradient that reaches it, when a rule first
   * reads one of its tensors; only the nodes that tensor needs are emitted again. Tensors a
   * segment hands to later nodes stay kept. `recompute` is asked first, also for the inputs of
   * replayed nodes. Gradients are the same as without. Default: none.
   */
  readonly checkpoints?: readonly CheckpointSegment[];
  /**
   * Selective checkpointing: tensors inside `checkpoints` segments that the backward reads from
   * the forward instead of recomputing (e.g. the outputs of matrix products, expensive to
   * recompute and small to keep), so a replay emits only what depends on the rest. Default: none.
   */
  readonly keepInCheckpoints?: (t: Tensor) => boolean;
}

/**
 * Reverse-mode autodiff over the nodes built so far: appends the backward nodes to `g` and
 * returns d loss / d t for each tensor of `wrt`, in order. Gradients of a tensor used by several
 * nodes are summed with one Sum node. Each node on the path from `wrt` to `loss` must have a
 * gradient rule in the op registry, else this throws `no gradient rule for <Op>`.
 */
export function gradients(
  g: GraphBuilder,
  loss: Tensor,
  wrt: readonly Tensor[],
  options: GradientOptions = {},
): Tensor[] {
  if (!isFloatDType(loss.dtype))
    throw new Error(`cannot differentiate ${loss.name}: it is ${loss.dtype}, not floating point`);
  const nodes = [...g.nodes];
  const active = activeTensors(nodes, wrt);
  const contributions = new Map<string, Tensor[]>();
  const add = (t: Tensor, grad: Tensor): void => {
    const list = contributions.get(t.name);
    if (list) list.push(grad);
    else contributions.set(t.name, [grad]);
  };
  const total = (t: Tensor): Tensor | undefined => {
    const list = contributions.get(t.name);
    if (!list || list.length === 0) return undefined;
    const summed = list.length === 1 ? list[0] : g.sum(list);
    if (summed && list.length > 1) contributions.set(t.name, [summed]);
    return summed;
  };
  add(
    loss,
    options.seed ??
      (loss.rank === 0 ? g.scalarLike(loss, 1) : g.constantOfShape(g.shape(loss), 1, loss.dtype)),
  );

  const kept = new Set([
    loss.name,
    ...wrt.map((t) => t.name),
    ...g.outputs.map((o) => o.tensor.name),
  ]);
  const keep = options.keepInCheckpoints;
  if (keep) for (const node of nodes) for (const t of node.outputs) if (keep(t)) kept.add(t.name);
  const internal = internalTensors(nodes, options.checkpoints ?? [], kept);
  const replays = new Map<number, SegmentReplay>();
  const rematerializes = options.recompute !== undefined || internal.size > 0;
  const copies = new Map<string, Tensor>();
  const reread = (t: Tensor, gradOutputs: readonly (Tensor | undefined)[]): Tensor => {
    let copy = copies.get(t.name);
    if (copy === undefined) {
      copy = options.recompute?.(t, gradOutputs) ?? replay(t, gradOutputs) ?? t;
      copies.set(t.name, copy);
    }
    return copy;
  };
  const replay = (t: Tensor, gradOutputs: readonly (Tensor | undefined)[]): Tensor | undefined => {
    const segment = internal.get(t.name);
    if (segment === undefined) return undefined;
    let r = replays.get(segment);
    if (!r) {
      const dependency = gradOutputs.find(Boolean);
      if (!dependency) throw new Error(`cannot recompute ${t.name}: no gradient to wait for`);
      r = new SegmentReplay(g, dependency, (input) => reread(input, gradOutputs));
      replays.set(segment, r);
    }
    return r.copy(t);
  };

  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    if (!node) continue;
    const gradOutputs = node.outputs.map((o) => total(o));
    if (gradOutputs.every((d) => d === undefined)) continue;
    const def = findOp(node.domain, node.opType);
    const needsGrad = node.inputs.map(
      (input, k) =>
        input !== undefined &&
        active.has(input.name) &&
        !(def?.nonDifferentiableInputs ?? []).includes(k),
    );
    if (!needsGrad.some(Boolean)) continue;
    if (!def?.grad) throw new Error(`no gradient rule for ${node.opType}`);
    const rule = def.grad;
    const emit = (): (Tensor | undefined)[] => rule({ g, node, gradOutputs, needsGrad });
    // The rule's nodes read recomputed copies of what the forward does not keep; copies are made
    // only of tensors a node consumes, just before it (the rule sees the forward tensors).
    const inputGrads = rematerializes
      ? g.withInputSubstitution((t) => reread(t, gradOutputs), emit)
      : emit();
    node.inputs.forEach((input, k) => {
      const grad = inputGrads[k];
      if (input && needsGrad[k] && grad) add(input, grad);
    });
  }

  return wrt.map((t) => {
    const grad = total(t);
    if (grad) return grad;
    if (options.allowUnused) return g.constantOfShape(g.shape(t), 0, t.dtype);
    throw new Error(`${loss.name} does not depend on ${t.name}`);
  });
}

/** Names of floating-point tensors that depend on any of `wrt` (forward reachability). */
function activeTensors(nodes: readonly GraphNode[], wrt: readonly Tensor[]): Set<string> {
  const active = new Set(wrt.map((t) => t.name));
  for (const t of wrt) {
    if (!isFloatDType(t.dtype))
      throw new Error(`cannot differentiate with respect to ${t.name}: it is ${t.dtype}`);
  }
  for (const node of nodes) {
    const skip = findOp(node.domain, node.opType)?.nonDifferentiableInputs ?? [];
    if (
      !node.inputs.some(
        (input, k) => input !== undefined && active.has(input.name) && !skip.includes(k),
      )
    )
      continue;
    for (const out of node.outputs) if (isFloatDType(out.dtype)) active.add(out.name);
  }
  return active;
}
