import type { DType } from './dtype.js';

/** A node attribute value with its ONNX attribute type made explicit (ints and floats differ). */
export type AttributeValue =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'string'; readonly value: string }
  | {
      readonly kind: 'tensor';
      readonly dtype: DType;
      readonly dims: readonly number[];
      readonly value: readonly number[];
    };

/** Node attributes by name. */
export type Attributes = Readonly<Record<string, AttributeValue>>;

/** Constructors for typed attribute values: `attr.int(1)`, `attr.floats([0.5])`. */
export const attr = {
  int: (value: number): AttributeValue => ({ kind: 'int', value }),
  float: (value: number): AttributeValue => ({ kind: 'float', value }),
  ints: (value: readonly number[]): AttributeValue => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): AttributeValue => ({ kind: 'floats', value }),
  string: (value: string): AttributeValue => ({ kind: 'string', value }),
  tensor: (dtype: DType, dims: readonly number[], value: readonly number[]): AttributeValue => ({
    kind: 'tensor',
    dtype,
    dims,
    value,
  }),
} as const;

/** Reads an int attribute, or a default when absent; throws when present with another kind. */
export function intAttribute(attributes: Attributes, name: string, fallback: number): number {
  const a = attributes[name];
  if (a === undefined) return fallback;
  if (a.kind !== 'int') throw new Error(`attribute ${name} must be an int, got ${a.kind}`);
  return a.value;
}

/** Reads a float attribute, or a default when absent. */
export function floatAttribute(attributes: Attributes, name: string, fallback: number): number {
  const a = attributes[name];
  if (a === undefined) return fallback;
  if (a.kind !== 'float') throw new Error(`attribute ${name} must be a float, got ${a.kind}`);
  return a.value;
}

/** Reads an ints attribute, or undefined when absent. */
export function intsAttribute(attributes: Attributes, name: string): readonly number[] | undefined {
  const a = attributes[name];
  if (a === undefined) return undefined;
  if (a.kind !== 'ints') throw new Error(`attribute ${name} must be ints, got ${a.kind}`);
  return a.value;
}
