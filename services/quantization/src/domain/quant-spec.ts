import { createHash } from 'node:crypto';
import {
  QuantizationScheme,
  type QuantizationSpec,
} from '@lathe/contracts/lathe/quantization/v1/quantization_job';
import { BLOCK_SIZES, createQuantConfig, type QuantConfig, type QuantScheme } from '@lathe/llm';
import { LatheError, type FieldViolation } from '@lathe/service-kit';

/**
 * The tensors `@lathe/llm` leaves in full precision (embeddings, norms, the LM head), as the
 * contract's default `skip_tensors` spells them. Other patterns are refused: the library's rule
 * (linear projections only) is the one every Lathe and bitsandbytes loader expects.
 */
export const DEFAULT_SKIP_TENSORS: readonly string[] = ['*embed_tokens*', '*norm*', 'lm_head*'];

/** Scales per second-level block of double quantization; bitsandbytes fixes it at 256. */
export const NESTED_BLOCK_SIZE = 256;

const SCHEMES: ReadonlyMap<QuantizationScheme, QuantScheme> = new Map([
  [QuantizationScheme.QUANTIZATION_SCHEME_NF4, 'nf4'],
  [QuantizationScheme.QUANTIZATION_SCHEME_FP4, 'fp4'],
  [QuantizationScheme.QUANTIZATION_SCHEME_INT8, 'int8'],
]);

/** The library's name of a contract scheme; undefined for UNSPECIFIED or an unknown value. */
export function schemeName(scheme: QuantizationScheme): QuantScheme | undefined {
  return SCHEMES.get(scheme);
}

/** The contract's enum value of a library scheme. */
export function schemeOf(name: QuantScheme): QuantizationScheme {
  for (const [value, n] of SCHEMES) if (n === name) return value;
  throw new Error(`unknown scheme "${name}"`);
}

/**
 * Every reason `spec` cannot be quantized as asked, as field violations (paths relative to the
 * request, `spec.blockSize`): an unsupported scheme, a block size bitsandbytes has no kernel for,
 * 4-bit options given to int8, a nested block size other than 256, custom skip patterns.
 */
export function specViolations(spec: QuantizationSpec): FieldViolation[] {
  const found: FieldViolation[] = [];
  const scheme = schemeName(spec.scheme);
  if (scheme === undefined && spec.scheme !== QuantizationScheme.QUANTIZATION_SCHEME_UNSPECIFIED)
    found.push({
      field: 'spec.scheme',
      description: `unsupported scheme ${String(spec.scheme)} (supported: NF4, FP4, INT8)`,
    });
  if (scheme === 'int8') {
    if (spec.blockSize !== undefined)
      found.push({
        field: 'spec.blockSize',
        description: 'applies to NF4 and FP4 only: int8 scales each row',
      });
    if (spec.doubleQuant)
      found.push({
        field: 'spec.doubleQuant',
        description: 'applies to NF4 and FP4 only: int8 keeps one fp32 scale per row',
      });
  } else if (spec.blockSize !== undefined && !BLOCK_SIZES.includes(spec.blockSize)) {
    found.push({
      field: 'spec.blockSize',
      description: `unsupported block size ${String(spec.blockSize)} (a power of two from 32 to 4096: ${BLOCK_SIZES.join(', ')})`,
    });
  }
  if (spec.doubleQuantBlockSize !== undefined) {
    if (!spec.doubleQuant)
      found.push({
        field: 'spec.doubleQuantBlockSize',
        description: 'applies only with doubleQuant',
      });
    else if (spec.doubleQuantBlockSize !== NESTED_BLOCK_SIZE)
      found.push({
        field: 'spec.doubleQuantBlockSize',
        description: `unsupported nested block size ${String(spec.doubleQuantBlockSize)} (bitsandbytes uses ${String(NESTED_BLOCK_SIZE)})`,
      });
  }
  const skip = [...spec.skipTensors].sort();
  if (skip.length > 0 && skip.join('\n') !== [...DEFAULT_SKIP_TENSORS].sort().join('\n'))
    found.push({
      field: 'spec.skipTensors',
      description: `custom patterns are not supported: the linear projections are quantized and ${DEFAULT_SKIP_TENSORS.join(', ')} kept (leave it empty)`,
    });
  return found;
}

/**
 * The validated library configuration of `spec`. The contract's `double_quant` is a plain
 * proto3 bool, so unset means off (the library's own default is on).
 *
 * @throws LatheError INVALID_ARGUMENT listing every {@link specViolations} entry
 */
export function quantConfigOf(spec: QuantizationSpec): QuantConfig {
  const found = specViolations(spec);
  const scheme = schemeName(spec.scheme);
  if (scheme === undefined && found.length === 0)
    found.push({ field: 'spec.scheme', description: 'must be set to a known value' });
  if (found.length > 0 || scheme === undefined) throw LatheError.invalidArgument(found);
  if (scheme === 'int8') return createQuantConfig({ scheme, doubleQuant: false });
  return createQuantConfig({
    scheme,
    ...(spec.blockSize === undefined ? {} : { blockSize: spec.blockSize }),
    doubleQuant: spec.doubleQuant,
  });
}

/** The spec a job reports: what was applied, defaults filled in. */
export function specOut(config: QuantConfig): QuantizationSpec {
  const fourBit = config.scheme !== 'int8';
  return {
    scheme: schemeOf(config.scheme),
    blockSize: fourBit ? config.blockSize : undefined,
    doubleQuant: fourBit && config.doubleQuant,
    doubleQuantBlockSize: fourBit && config.doubleQuant ? config.nestedBlockSize : undefined,
    skipTensors: [...DEFAULT_SKIP_TENSORS],
  };
}

/**
 * The cache key of quantizing the bytes with manifest digest `sourceSha256` as `config`:
 * quantization is deterministic, so two jobs with one key produce the same files. Options that
 * do not apply (block size and double quantization for int8) are left out, so they cannot split
 * the cache.
 */
export function cacheKeyOf(sourceSha256: string, config: QuantConfig): string {
  const options =
    config.scheme === 'int8'
      ? { scheme: 'int8' }
      : {
          scheme: config.scheme,
          blockSize: config.blockSize,
          doubleQuant: config.doubleQuant,
          nestedBlockSize: config.doubleQuant ? config.nestedBlockSize : 0,
        };
  return createHash('sha256')
    .update(JSON.stringify({ source: sourceSha256, ...options }))
    .digest('hex');
}
