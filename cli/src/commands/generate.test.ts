import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SeededRandom,
  createLoraConfig,
  initLoraTensors,
  loadLlamaModel,
  saveLoraAdapter,
} from '@lathe/llm';
import { REPO_ROOT, runLathe } from '../../test/run-lathe.js';

const MODEL = join(REPO_ROOT, '../shared/models/stories260K');
const missing = existsSync(MODEL) ? '' : `shared model not found at ${MODEL}`;
if (missing !== '') console.warn(`skipping lathe generate tests: ${missing}`);

describe.skipIf(missing !== '')('lathe generate', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lathe-generate-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reproduces the 256 golden greedy tokens and their text', async () => {
    const golden = JSON.parse(await readFile(join(MODEL, 'golden_greedy_256.json'), 'utf8')) as {
      generated_token_ids: number[];
      decoded_text: string;
    };
    const r = await runLathe([
      'generate',
      '--model',
      MODEL,
      '--prompt-ids',
      '1',
      '--greedy',
      '--max-new-tokens',
      '256',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      generated_token_ids: number[];
      text: string;
      stop_reason: string;
    };
    expect(out.generated_token_ids).toEqual(golden.generated_token_ids);
    expect(out.text).toBe(golden.decoded_text);
    expect(out.stop_reason).toBe('max-new-tokens');
  });

  it('encodes a text prompt and samples reproducibly from a seed', async () => {
    const args = [
      'generate',
      '--model',
      MODEL,
      '--prompt',
      'Once upon a time',
      '--max-new-tokens',
      '20',
      '--temperature',
      '0.8',
      '--top-p',
      '0.95',
      '--seed',
      '3',
    ];
    const [a, b] = await Promise.all([runLathe(args), runLathe(args)]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout.trim().length).toBeGreaterThan(0);
  });

  it('--adapter changes the output, and an adapter with B = 0 does not', async () => {
    const model = await loadLlamaModel(MODEL);
    const lora = createLoraConfig({
      r: 4,
      alpha: 8,
      targetModules: ['q_proj', 'v_proj', 'down_proj'],
    });
    const zero = initLoraTensors(model.config, lora, SeededRandom.fromSeed(1));
    await saveLoraAdapter(join(dir, 'zero'), { config: lora, baseModel: MODEL, tensors: zero });
    const tuned = new Map(
      [...zero].map(([name, t]) => [
        name,
        name.includes('lora_B')
          ? {
              shape: t.shape,
              data: SeededRandom.fromSeed(2).split(name).uniformArray(t.data.length, -0.5, 0.5),
            }
          : t,
      ]),
    );
    await saveLoraAdapter(join(dir, 'tuned'), { config: lora, baseModel: MODEL, tensors: tuned });
    const args = [
      'generate',
      '--model',
      MODEL,
      '--prompt-ids',
      '1',
      '--greedy',
      '--max-new-tokens',
      '30',
      '--json',
    ];
    const ids = async (extra: string[]): Promise<number[]> => {
      const r = await runLathe([...args, ...extra]);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { generated_token_ids: number[] }).generated_token_ids;
    };
    const [base, withZero, withTuned] = await Promise.all([
      ids([]),
      ids(['--adapter', join(dir, 'zero')]),
      ids(['--adapter', join(dir, 'tuned')]),
    ]);
    expect(withZero).toEqual(base);
    expect(withTuned).not.toEqual(base);
  });

  it('usage errors exit 2 naming the flag', async () => {
    const r = await runLathe([
      'generate',
      '--model',
      MODEL,
      '--prompt-ids',
      '1',
      '--greedy',
      '--seed',
      '1',
      '--max-new-tokens',
      '2',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--greedy cannot be combined with/);
    const both = await runLathe(['generate', '--model', MODEL, '--max-new-tokens', '2']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/give exactly one of --prompt and --prompt-ids/);
  });

  it('bad model files give one line naming the file and the problem, exit 1', async () => {
    const model = async (name: string): Promise<string> => {
      const d = join(dir, name);
      await cp(MODEL, d, { recursive: true });
      return d;
    };
    const expectOneLine = async (modelDir: string, expected: string): Promise<void> => {
      const r = await runLathe([
        'generate',
        '--model',
        modelDir,
        '--prompt-ids',
        '1',
        '--greedy',
        '--max-new-tokens',
        '1',
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toBe(expected);
    };
    // Truncated weights: the header promises more bytes than the file holds.
    const truncated = await model('truncated');
    const weights = await readFile(join(truncated, 'model.safetensors'));
    await writeFile(
      join(truncated, 'model.safetensors'),
      weights.subarray(0, weights.length - 100),
    );
    const st = join(truncated, 'model.safetensors');
    const r = await runLathe([
      'generate',
      '--model',
      truncated,
      '--prompt-ids',
      '1',
      '--greedy',
      '--max-new-tokens',
      '1',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(
      new RegExp(
        `^lathe: ${st}: tensor "[^"]+" data_offsets \\[\\d+, \\d+\\] fall outside the \\d+-byte data section$`,
      ),
    );
    // A hostile header length (2^60 bytes) is refused before any allocation.
    const hostile = await model('hostile');
    const bytes = Buffer.from(weights);
    bytes.writeBigUInt64LE(2n ** 60n, 0);
    await writeFile(join(hostile, 'model.safetensors'), bytes);
    await expectOneLine(
      hostile,
      `lathe: ${join(hostile, 'model.safetensors')}: safetensors header length 1152921504606846976 exceeds the 100000000-byte limit`,
    );
    // Unknown architecture.
    const gpt2 = await model('gpt2');
    const config = JSON.parse(await readFile(join(gpt2, 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    await writeFile(
      join(gpt2, 'config.json'),
      JSON.stringify({ ...config, architectures: ['GPT2LMHeadModel'], model_type: 'gpt2' }),
    );
    await expectOneLine(
      gpt2,
      `lathe: ${join(gpt2, 'config.json')}: unknown architecture ["GPT2LMHeadModel"] (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)`,
    );
    // Tokenizer larger than the model's vocabulary: an added token at id 600.
    const vocab = await model('vocab');
    const tok = JSON.parse(await readFile(join(vocab, 'tokenizer.json'), 'utf8')) as {
      added_tokens: unknown[];
    };
    tok.added_tokens.push({
      id: 600,
      content: '<extra>',
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    });
    await writeFile(join(vocab, 'tokenizer.json'), JSON.stringify(tok));
    await expectOneLine(
      vocab,
      `lathe: ${join(vocab, 'tokenizer.json')}: tokenizer vocabulary (601 ids) does not fit the model's vocab_size 512`,
    );
  });
});
