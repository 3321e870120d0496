import type { Float32Tensor } from '../safetensors/read-safetensors.js';
import { QUANT_STATE_KEY } from './bnb-format.js';
import { QuantizationError } from './quantization-error.js';
import { dequantizeTensor, type Quantized4bit } from './quantized-tensor.js';
import type { RawTensor } from './safetensors-stream.js';

/** The fields of a packed bitsandbytes quant state this reader uses. */
export interface QuantState {
  readonly quantType: 'nf4' | 'fp4';
  readonly blockSize: number;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly nested?: { readonly blockSize: number; readonly offset: number };
}

/**
 * Parses the JSON bytes of a `quant_state.bitsandbytes__*` tensor.
 *
 * @throws QuantizationError naming the tensor when a field is missing or malformed
 */
export function parseQuantState(name: string, bytes: Uint8Array): QuantState {
  const bad = (reason: string): QuantizationError =>
    new QuantizationError(`tensor "${name}"`, reason);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new QuantizationError(`tensor "${name}"`, 'quant state is not JSON', { cause });
  }
  if (typeof raw !== 'object' || raw === null) throw bad('quant state is not a JSON object');
  const s = raw as Record<string, unknown>;
  const quantType = s['quant_type'];
  if (quantType !== 'nf4' && quantType !== 'fp4') {
    throw bad(`quant_type ${JSON.stringify(quantType)} is not nf4 or fp4`);
  }
  const int = (key: string): number => {
    const v = s[key];
    if (!Number.isSafeInteger(v) || (v as number) <= 0)
      throw bad(`"${key}" must be a positive integer`);
    return v as number;
  };
  const shape = s['shape'];
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) > 0)) {
    throw bad('"shape" must be a list of positive integers');
  }
  const dtype = typeof s['dtype'] === 'string' ? s['dtype'] : 'float32';
  if (s['nested_blocksize'] === undefined) {
    return { quantType, blockSize: int('blocksize'), dtype, shape: shape as number[] };
  }
  const offset = s['nested_offset'];
  if (typeof offset !== 'number') throw bad('"nested_offset" must be a number');
  return {
    quantType,
    blockSize: int('blocksize'),
    dtype,
    shape: shape as number[],
    nested: { blockSize: int('nested_blocksize'), offset },
  };
}

function float32(name: string, t: RawTensor | undefined, length?: number): Float32Array {
  if (t === undefined) throw new QuantizationError(`tensor "${name}"`, 'is missing');
  if (t.dtype !== 'F32') {
    throw new QuantizationError(`tensor "${name}"`, `has dtype ${t.dtype}, expected F32`);
  }
  const out = new Float32Array(t.bytes.length / 4);
  new Uint8Array(out.buffer).set(t.bytes);
  if (length !== undefined && out.length !== length) {
    throw new QuantizationError(
      `tensor "${name}"`,
      `holds ${out.length} values, expected ${length}`,
    );
  }
  return out;
}

function uint8(name: string, t: RawTensor | undefined, length: number): Uint8Array {
  if (t === undefined) throw new QuantizationError(`tensor "${name}"`, 'is missing');
  if (t.dtype !== 'U8') {
    throw new QuantizationError(
      `tensor "${name}"`,
      `has dtype ${t.dtype}, expected U8 (only uint8 quant storage is supported)`,
    );
  }
  if (t.bytes.length !== length) {
    throw new QuantizationError(
      `tensor "${name}"`,
      `holds ${t.bytes.length} bytes, expected ${length}`,
    );
  }
  return t.bytes;
}

/**
 * Rebuilds a 4-bit weight from its state-dict entries and restores it to fp32.
 *
 * @param weightName e.g. `model.layers.0.mlp.up_proj.weight`
 * @param get the raw entry of a name (undefined when absent)
 */
export function decode4bitWeight(
  weightName: string,
  stateName: string,
  get: (name: string) => RawTensor | undefined,
): { quantized: Quantized4bit; tensor: Float32Tensor } {
  const quantized = read4bitWeight(weightName, stateName, get);
  return { quantized, tensor: dequantizeTensor(quantized) };
}

/**
 * Rebuilds a 4-bit weight from its state-dict entries, kept 4-bit (packed codes, absmax or
 * double-quantized absmax, codebook).
 *
 * @throws QuantizationError naming the entry that is missing or malformed
 */
export function read4bitWeight(
  weightName: string,
  stateName: string,
  get: (name: string) => RawTensor | undefined,
): Quantized4bit {
  const stateTensor = get(stateName);
  if (stateTensor === undefined) throw new QuantizationError(`tensor "${stateName}"`, 'is missing');
  const state = parseQuantState(stateName, stateTensor.bytes);
  const count = state.shape.reduce((a, d) => a * d, 1);
  const blocks = Math.ceil(count / state.blockSize);
  const packed = uint8(weightName, get(weightName), Math.ceil(count / 2));
  const quantMap = float32(`${weightName}.quant_map`, get(`${weightName}.quant_map`), 16);
  let absmax: Quantized4bit['absmax'];
  if (state.nested === undefined) {
    absmax = float32(`${weightName}.absmax`, get(`${weightName}.absmax`), blocks);
  } else {
    const nestedBlocks = Math.ceil(blocks / state.nested.blockSize);
    absmax = {
      codes: uint8(`${weightName}.absmax`, get(`${weightName}.absmax`), blocks),
      absmax: float32(
        `${weightName}.nested_absmax`,
        get(`${weightName}.nested_absmax`),
        nestedBlocks,
      ),
      map: float32(`${weightName}.nested_quant_map`, get(`${weightName}.nested_quant_map`), 256),
      blockSize: state.nested.blockSize,
      offset: state.nested.offset,
    };
  }
  return {
    kind: '4bit',
    quantType: state.quantType,
    shape: state.shape,
    packed,
    blockSize: state.blockSize,
    quantMap,
    absmax,
  };
}

/** Restores an LLM.int8() weight (`weight` I8 + `SCB` F32) to fp32. */
export function decodeInt8Weight(
  weightName: string,
  get: (name: string) => RawTensor | undefined,
): Float32Tensor {
  const weight = get(weightName);
  if (weight === undefined || weight.dtype !== 'I8' || weight.shape.length !== 2) {
    throw new QuantizationError(`tensor "${weightName}"`, 'must be an I8 matrix beside its SCB');
  }
  const [rows, cols] = weight.shape as [number, number];
  const scbName = `${weightName.replace(/\.weight$/, '')}.SCB`;
  const rowAbsmax = float32(scbName, get(scbName), rows);
  const codes = new Int8Array(weight.bytes.buffer, weight.bytes.byteOffset, weight.bytes.length);
  return dequantizeTensor({ kind: 'int8', shape: [rows, cols], codes, rowAbsmax });
}

/** The weight name a quant-state entry belongs to, or undefined for other names. */
export function quantStateOwner(name: string): string | undefined {
  const at = name.indexOf(`.${QUANT_STATE_KEY}`);
  return at < 0 ? undefined : name.slice(0, at);
}
