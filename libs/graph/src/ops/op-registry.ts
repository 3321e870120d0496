import type { OpDefinition } from '../core/op-definition.js';
import { ACTIVATION_OPS } from './activation-ops.js';
import { ELEMENTWISE_OPS } from './elementwise-ops.js';
import { LOSS_OPS } from './loss-ops.js';
import { MATMUL_OPS } from './matmul-ops.js';
import { NON_DIFFERENTIABLE_OPS } from './non-differentiable-ops.js';
import { QUANT_OPS } from './quant-ops.js';
import { REDUCE_OPS } from './reduce-ops.js';
import { SHAPE_OPS } from './shape-ops.js';

function key(domain: string, opType: string): string {
  return domain === '' ? opType : `${domain}::${opType}`;
}

/**
 * The op registry: one entry per op type, each holding the op's forward inference and its
 * gradient rule. Built once from the op tables; a duplicate entry is a programming error.
 */
const REGISTRY: ReadonlyMap<string, OpDefinition> = (() => {
  const map = new Map<string, OpDefinition>();
  for (const def of [
    ...ELEMENTWISE_OPS,
    ...ACTIVATION_OPS,
    ...MATMUL_OPS,
    ...REDUCE_OPS,
    ...SHAPE_OPS,
    ...LOSS_OPS,
    ...NON_DIFFERENTIABLE_OPS,
    ...QUANT_OPS,
  ]) {
    const k = key(def.domain ?? '', def.opType);
    if (map.has(k)) throw new Error(`op ${k} is registered twice`);
    map.set(k, def);
  }
  return map;
})();

/** The definition of an op, or undefined when the registry does not know it. */
export function findOp(domain: string, opType: string): OpDefinition | undefined {
  return REGISTRY.get(key(domain, opType));
}

/** Registered ops and whether each has a gradient rule (documentation and tests). */
export function listOps(): { opType: string; domain: string; hasGradient: boolean }[] {
  return [...REGISTRY.values()].map((d) => ({
    opType: d.opType,
    domain: d.domain ?? '',
    hasGradient: d.grad !== undefined,
  }));
}
