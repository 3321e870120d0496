import {
  BLOCK_SIZES,
  QUANT_SCHEMES,
  createQuantConfig,
  quantizeModelDir,
  type QuantConfig,
  type QuantScheme,
  type QuantizationReport,
} from '@lathe/llm';
import { CommandArgs } from '../command-args.js';
import { reportFailure } from '../report-failure.js';
import { UsageError } from '../usage-error.js';

/** One line for `lathe --help`. */
export const summary =
  'quantize a model to NF4/FP4 (bitsandbytes 4-bit) or int8 safetensors, with a quality report';

/** Every flag; printed by `lathe quantize --help`. */
export const usage = `usage: lathe quantize --model DIR --scheme nf4|fp4|int8 --out DIR
                      [--block-size 64] [--no-double-quant] [--json]

Quantizes the linear projections (*_proj.weight) of a Hugging Face model and writes --out in the
Transformers + bitsandbytes layout (loadable with load_in_4bit / load_in_8bit); embeddings, norms
and lm_head stay in full precision. One tensor is held in memory at a time. Prints, per tensor,
the RMSE, max absolute error, signal-to-noise ratio (dB), storage bits per parameter, and bytes
before and after.

required:
  --model DIR          Hugging Face model directory (config.json, *.safetensors)
  --scheme S           nf4 (4-bit NormalFloat), fp4 (4-bit float) or int8 (per-row absmax)
  --out DIR            output directory (created; tokenizer and other files are copied)
options:
  --block-size N       elements per absmax for nf4/fp4: ${BLOCK_SIZES.join(', ')} (default 64)
  --no-double-quant    keep the absmax values in fp32 (default: quantize them to 8 bits)
  --json               print the report as one JSON object
  -h, --help           this help

exit codes: 0 done, 1 a model problem (already quantized, NaN/Inf in a tensor, unreadable file),
2 a usage error (unknown scheme, unsupported block size)`;

/**
 * \`lathe quantize\`.
 *
 * @returns 0 done, 1 a model problem, 2 a usage error
 */
export async function run(argv: string[]): Promise<number> {
  let options: { model: string; out: string; json: boolean; config: QuantConfig };
  try {
    const args = CommandArgs.parse(
      argv,
      {
        model: 'string',
        scheme: 'string',
        out: 'string',
        'block-size': 'string',
        'no-double-quant': 'boolean',
        json: 'boolean',
      },
      ['model', 'scheme', 'out'],
    );
    if (args === 'help') {
      process.stdout.write(`${usage}\n`);
      return 0;
    }
    const scheme = args.required('scheme');
    if (!(QUANT_SCHEMES as readonly string[]).includes(scheme)) {
      throw new UsageError(`--scheme must be one of ${QUANT_SCHEMES.join(', ')}, got "${scheme}"`);
    }
    const blockSize = args.integer('block-size');
    if (scheme === 'int8' && (blockSize !== undefined || args.flag('no-double-quant'))) {
      throw new UsageError(
        '--block-size and --no-double-quant apply to nf4 and fp4 only (int8 scales each row)',
      );
    }
    if (blockSize !== undefined && !BLOCK_SIZES.includes(blockSize)) {
      throw new UsageError(
        `--block-size must be one of ${BLOCK_SIZES.join(', ')}, got ${blockSize}`,
      );
    }
    options = {
      model: args.required('model'),
      out: args.required('out'),
      json: args.flag('json'),
      config: createQuantConfig({
        scheme: scheme as QuantScheme,
        ...(blockSize === undefined ? {} : { blockSize }),
        doubleQuant: !args.flag('no-double-quant'),
      }),
    };
  } catch (err) {
    process.stderr.write(
      `lathe quantize: ${(err as Error).message}\n(see lathe quantize --help)\n`,
    );
    return 2;
  }
  try {
    const report = await quantizeModelDir(options.model, options.out, options.config);
    process.stdout.write(
      options.json
        ? `${JSON.stringify(reportJson(report, options.out))}\n`
        : reportText(report, options.out),
    );
    return 0;
  } catch (err) {
    return reportFailure(err);
  }
}

function reportJson(r: QuantizationReport, out: string): Record<string, unknown> {
  return {
    out,
    scheme: r.config.scheme,
    block_size: r.config.scheme === 'int8' ? null : r.config.blockSize,
    double_quant: r.config.scheme !== 'int8' && r.config.doubleQuant,
    bytes_before: r.bytesBefore,
    bytes_after: r.bytesAfter,
    bits_per_quantized_parameter: r.bitsPerQuantizedParameter,
    kept_tensors: r.keptTensors,
    tensors: r.tensors.map((t) => ({
      name: t.name,
      shape: t.shape,
      parameters: t.parameters,
      rmse: t.rmse,
      max_abs_error: t.maxAbsError,
      // JSON has no Infinity: an exact tensor reports null.
      snr_db: Number.isFinite(t.snrDb) ? t.snrDb : null,
      bits_per_parameter: t.bitsPerParameter,
      bytes_before: t.bytesBefore,
      bytes_after: t.bytesAfter,
    })),
  };
}

function reportText(r: QuantizationReport, out: string): string {
  const header = [
    'tensor',
    'shape',
    'rmse',
    'max abs err',
    'snr dB',
    'bits/param',
    'bytes before',
    'bytes after',
  ];
  const rows = r.tensors.map((t) => [
    t.name,
    t.shape.join('x'),
    t.rmse.toExponential(3),
    t.maxAbsError.toExponential(3),
    t.snrDb.toFixed(2),
    t.bitsPerParameter.toFixed(3),
    String(t.bytesBefore),
    String(t.bytesAfter),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const scheme =
    r.config.scheme === 'int8'
      ? 'int8 per-row absmax'
      : `${r.config.scheme}, block ${r.config.blockSize}, double quantization ${r.config.doubleQuant ? 'on' : 'off'}`;
  return [
    `quantized ${r.tensors.length} tensors (${scheme}); kept ${r.keptTensors.length} in full precision`,
    line(header),
    ...rows.map(line),
    `model: ${r.bytesBefore} -> ${r.bytesAfter} bytes (${((r.bytesAfter / r.bytesBefore) * 100).toFixed(1)}%); ` +
      `${r.bitsPerQuantizedParameter.toFixed(3)} bits per quantized parameter; wrote ${out}`,
    '',
  ].join('\n');
}
