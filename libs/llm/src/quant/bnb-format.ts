import type { SafetensorsDtype } from '../safetensors/dtype.js';
import type { QuantConfig } from './quant-config.js';
import { QuantizationError } from './quantization-error.js';
import { pythonJsonDumps } from './python-json.js';
import type { Quantized4bit, QuantizedInt8, QuantizedTensor } from './quantized-tensor.js';
import type { RawTensor } from './safetensors-stream.js';

/**
 * The Hugging Face Transformers + bitsandbytes serialization of quantized linear layers.
 *
 * 4-bit (`Params4bit`, `QuantState.as_dict(packed=True)`), for a weight `W` = `<module>.weight`:
 *   W                                     U8  [ceil(n/2), 1]   packed codes, high nibble first
 *   W.absmax                              U8  [blocks]         (F32 without double quantization)
 *   W.quant_map                           F32 [16]             the codebook
 *   W.nested_absmax                       F32 [ceil(blocks/256)]
 *   W.nested_quant_map                    F32 [256]            the dynamic map
 *   W.quant_state.bitsandbytes__<nf4|fp4> U8  [len]            json.dumps of quant_type, blocksize,
 *                                         dtype, shape, and nested_blocksize, nested_dtype,
 *                                         nested_offset when double-quantized
 * 8-bit (`Int8Params`, LLM.int8()): `<module>.weight` I8 [out, in], `<module>.SCB` F32 [out]
 * (row absmax) and `<module>.weight_format` U8 [] (0 = row-major).
 */
export const QUANT_STATE_KEY = 'quant_state.bitsandbytes__';

/** The torch dtype name bitsandbytes records for a source dtype (`str(dtype)` minus `torch.`). */
export function torchDtypeName(dtype: SafetensorsDtype): string {
  switch (dtype) {
    case 'F32':
      return 'float32';
    case 'F16':
      return 'float16';
    case 'BF16':
      return 'bfloat16';
    case 'F64':
      return 'float64';
    default:
      throw new QuantizationError(`dtype ${dtype}`, 'is not a floating-point weight type');
  }
}

function f32Bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The quant-state JSON bitsandbytes packs into the `quant_state.bitsandbytes__*` tensor. */
export function quantStateJson(q: Quantized4bit, sourceDtype: SafetensorsDtype): string {
  const state: Record<string, Parameters<typeof pythonJsonDumps>[0]> = {
    quant_type: q.quantType,
    blocksize: { int: q.blockSize },
    dtype: torchDtypeName(sourceDtype),
    shape: q.shape.map((d) => ({ int: d })),
  };
  if (!(q.absmax instanceof Float32Array)) {
    state['nested_blocksize'] = { int: q.absmax.blockSize };
    state['nested_dtype'] = 'float32';
    state['nested_offset'] = { float: q.absmax.offset };
  }
  return pythonJsonDumps(state);
}

/**
 * The state-dict entries of one quantized weight, in the order bitsandbytes emits them.
 *
 * @param weightName the weight's name, e.g. `model.layers.0.self_attn.q_proj.weight`
 * @param sourceDtype dtype the weight had before quantization (recorded in the quant state)
 */
export function serializeQuantized(
  weightName: string,
  q: QuantizedTensor,
  sourceDtype: SafetensorsDtype,
): [string, RawTensor][] {
  if (q.kind === 'int8') return serializeInt8(weightName, q);
  const out: [string, RawTensor][] = [
    [weightName, { dtype: 'U8', shape: [q.packed.length, 1], bytes: q.packed }],
  ];
  const a = q.absmax;
  if (a instanceof Float32Array) {
    out.push([`${weightName}.absmax`, { dtype: 'F32', shape: [a.length], bytes: f32Bytes(a) }]);
  } else {
    out.push([`${weightName}.absmax`, { dtype: 'U8', shape: [a.codes.length], bytes: a.codes }]);
  }
  out.push([`${weightName}.quant_map`, { dtype: 'F32', shape: [16], bytes: f32Bytes(q.quantMap) }]);
  if (!(a instanceof Float32Array)) {
    out.push([
      `${weightName}.nested_absmax`,
      { dtype: 'F32', shape: [a.absmax.length], bytes: f32Bytes(a.absmax) },
    ]);
    out.push([
      `${weightName}.nested_quant_map`,
      { dtype: 'F32', shape: [a.map.length], bytes: f32Bytes(a.map) },
    ]);
  }
  const state = Buffer.from(quantStateJson(q, sourceDtype), 'utf8');
  out.push([
    `${weightName}.${QUANT_STATE_KEY}${q.quantType}`,
    { dtype: 'U8', shape: [state.length], bytes: state },
  ]);
  return out;
}

function serializeInt8(weightName: string, q: QuantizedInt8): [string, RawTensor][] {
  const module = weightName.replace(/\.weight$/, '');
  return [
    [
      weightName,
      {
        dtype: 'I8',
        shape: q.shape,
        bytes: new Uint8Array(q.codes.buffer, q.codes.byteOffset, q.codes.byteLength),
      },
    ],
    [`${module}.SCB`, { dtype: 'F32', shape: [q.rowAbsmax.length], bytes: f32Bytes(q.rowAbsmax) }],
    [`${weightName}_format`, { dtype: 'U8', shape: [], bytes: new Uint8Array([0]) }],
  ];
}

/**
 * The `quantization_config` of config.json, as Transformers' `BitsAndBytesConfig.to_dict()`
 * writes it. `lm_head` is listed as not converted, as Transformers does by default.
 */
export function bitsAndBytesConfig(config: QuantConfig): Record<string, unknown> {
  const fourBit = config.scheme !== 'int8';
  return {
    _load_in_4bit: fourBit,
    _load_in_8bit: !fourBit,
    bnb_4bit_compute_dtype: 'float32',
    bnb_4bit_quant_storage: 'uint8',
    bnb_4bit_quant_type: fourBit ? config.scheme : 'fp4',
    bnb_4bit_use_double_quant: fourBit && config.doubleQuant,
    llm_int8_enable_fp32_cpu_offload: false,
    llm_int8_has_fp16_weight: false,
    llm_int8_skip_modules: null,
    llm_int8_threshold: 6.0,
    load_in_4bit: fourBit,
    load_in_8bit: !fourBit,
    quant_method: 'bitsandbytes',
  };
}

/**
 * Whether a tensor is quantized under the usual rule: the weight matrix of a linear projection
 * (`*_proj.weight`, rank 2). Embeddings, norms and `lm_head` stay in full precision, as
 * Transformers keeps them (embeddings are not `nn.Linear`; `lm_head` is skipped by default).
 */
export function isQuantizedLayer(name: string, shape: readonly number[]): boolean {
  return shape.length === 2 && /_proj\.weight$/.test(name);
}
