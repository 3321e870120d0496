import {
  TextGenerator,
  TextTokenizer,
  loadModelForInference,
  loadLoraAdapter,
  validateSampling,
  type SamplingOptions,
} from '@lathe/llm';
import { CommandArgs } from '../command-args.js';
import { reportFailure } from '../report-failure.js';
import { UsageError } from '../usage-error.js';

/** One line for `lathe --help`. */
export const summary =
  'generate text from a model (optionally with a LoRA adapter), with a KV cache';

/** Every flag; printed by `lathe generate --help`. */
export const usage = `usage: lathe generate --model DIR [--adapter DIR] (--prompt TEXT | --prompt-ids 1,2,3)
                      --max-new-tokens N [--greedy | --temperature T --top-p P --top-k K --seed S]
                      [--stop-ids 2,...] [--json]

Continues the prompt token by token. Stops at the tokenizer's EOS (and BOS, as llama2.c does),
the config's eos_token_id, any --stop-ids, or after N new tokens.

required:
  --model DIR          Hugging Face model directory (config.json, *.safetensors, tokenizer.json);
                       a bitsandbytes-quantized one (lathe quantize, "bnb-4bit") is dequantized
  --prompt TEXT        prompt text, encoded with the model's tokenizer (BOS added), or
  --prompt-ids LIST    prompt token ids, comma-separated, used as given
  --max-new-tokens N   most tokens to generate
options:
  --adapter DIR        PEFT LoRA adapter, folded into the weights before generating
  --greedy             argmax at every step (no sampling flags allowed with it)
  --temperature T      divide logits by T before sampling (default 1)
  --top-k K            sample among the K most likely tokens (default 0 = all)
  --top-p P            sample from the smallest set of tokens with mass >= P (default 1 = all)
  --seed S             sampling seed (default 0); the same seed gives the same tokens
  --stop-ids LIST      extra token ids that end generation
  --json               print {prompt_token_ids, generated_token_ids, stop_reason, text}
  -h, --help           this help`;

/**
 * `lathe generate`.
 *
 * @returns 0 done, 1 a model/file problem, 2 a usage error
 */
export async function run(argv: string[]): Promise<number> {
  let options: GenerateCommandOptions;
  try {
    const args = CommandArgs.parse(
      argv,
      {
        model: 'string',
        adapter: 'string',
        prompt: 'string',
        'prompt-ids': 'string',
        'max-new-tokens': 'string',
        greedy: 'boolean',
        temperature: 'string',
        'top-p': 'string',
        'top-k': 'string',
        seed: 'string',
        'stop-ids': 'string',
        json: 'boolean',
      },
      ['model', 'max-new-tokens'],
    );
    if (args === 'help') {
      process.stdout.write(`${usage}\n`);
      return 0;
    }
    options = generateOptions(args);
  } catch (err) {
    process.stderr.write(
      `lathe generate: ${(err as Error).message}\n(see lathe generate --help)\n`,
    );
    return 2;
  }
  try {
    const model = await loadModelForInference(options.model);
    const tokenizer = await TextTokenizer.load(options.model, model.config.vocabSize);
    const adapter =
      options.adapter === undefined
        ? undefined
        : await loadLoraAdapter(options.adapter, model.config);
    const prompt = options.promptIds ?? tokenizer.encode(options.prompt ?? '');
    const outside = prompt.find((id) => id >= model.config.vocabSize);
    if (outside !== undefined) {
      process.stderr.write(
        `lathe generate: --prompt-ids: ${outside} is outside the vocabulary (${model.config.vocabSize} ids)\n`,
      );
      return 2;
    }
    const stop = new Set<number>(options.stopIds);
    for (const id of [tokenizer.eosTokenId, tokenizer.bosTokenId, ...model.config.eosTokenIds]) {
      if (id !== undefined) stop.add(id);
    }
    const generator = await TextGenerator.create(model, { adapter });
    try {
      const result = await generator.generate(prompt, {
        maxNewTokens: options.maxNewTokens,
        sampling: options.sampling,
        seed: options.seed,
        stopTokenIds: [...stop],
      });
      const text = tokenizer.decode(result.tokenIds);
      process.stdout.write(
        options.json
          ? `${JSON.stringify({ prompt_token_ids: prompt, generated_token_ids: result.tokenIds, stop_reason: result.stopReason, text })}\n`
          : `${text}\n`,
      );
    } finally {
      await generator.close();
    }
    return 0;
  } catch (err) {
    return reportFailure(err);
  }
}

interface GenerateCommandOptions {
  readonly model: string;
  readonly adapter: string | undefined;
  readonly prompt: string | undefined;
  readonly promptIds: number[] | undefined;
  readonly maxNewTokens: number;
  readonly sampling: SamplingOptions;
  readonly seed: number;
  readonly stopIds: number[];
  readonly json: boolean;
}

function generateOptions(args: CommandArgs): GenerateCommandOptions {
  const prompt = args.string('prompt');
  const promptIds = args.string('prompt-ids');
  if ((prompt === undefined) === (promptIds === undefined)) {
    throw new UsageError('give exactly one of --prompt and --prompt-ids');
  }
  const greedy = args.flag('greedy');
  if (
    greedy &&
    ['temperature', 'top-p', 'top-k', 'seed'].some((k) => args.string(k) !== undefined)
  ) {
    throw new UsageError(
      '--greedy cannot be combined with --temperature, --top-p, --top-k or --seed',
    );
  }
  const sampling: SamplingOptions = greedy
    ? { greedy: true }
    : {
        temperature: args.number('temperature') ?? 1,
        topP: args.number('top-p') ?? 1,
        topK: args.integer('top-k') ?? 0,
      };
  try {
    validateSampling(sampling);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const maxNewTokens = args.integer('max-new-tokens') ?? 0;
  if (maxNewTokens < 1) throw new UsageError('--max-new-tokens must be at least 1');
  const seed = args.integer('seed') ?? 0;
  if (seed < 0) throw new UsageError('--seed must be a non-negative integer');
  return {
    model: args.required('model'),
    adapter: args.string('adapter'),
    prompt,
    promptIds: promptIds === undefined ? undefined : idList(promptIds, 'prompt-ids'),
    maxNewTokens,
    sampling,
    seed,
    stopIds:
      args.string('stop-ids') === undefined ? [] : idList(args.required('stop-ids'), 'stop-ids'),
    json: args.flag('json'),
  };
}

function idList(raw: string, flag: string): number[] {
  return raw.split(',').map((s) => {
    const v = Number(s.trim());
    if (s.trim() === '' || !Number.isSafeInteger(v) || v < 0) {
      throw new UsageError(`--${flag} must be comma-separated token ids, got "${raw}"`);
    }
    return v;
  });
}
