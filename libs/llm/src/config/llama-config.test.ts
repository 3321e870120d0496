import { describe, expect, it } from 'vitest';
import { parseLlamaConfig } from './llama-config.js';
import { ropeInverseFrequencies } from './rope.js';

const base = {
  architectures: ['LlamaForCausalLM'],
  hidden_size: 64,
  intermediate_size: 172,
  num_hidden_layers: 2,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  vocab_size: 512,
};

describe('parseLlamaConfig', () => {
  it('fills Hugging Face defaults and derives head_dim', () => {
    const c = parseLlamaConfig(base, 'config.json');
    expect(c).toMatchObject({
      architecture: 'llama',
      headDim: 8,
      numKvHeads: 4,
      ropeTheta: 10000,
      tieWordEmbeddings: false,
    });
    expect(c.qkvBias).toBe(false);
    expect(parseLlamaConfig({ ...base, architectures: ['Qwen2ForCausalLM'] }, 'c').qkvBias).toBe(
      true,
    );
  });

  it('names an unknown architecture and the file', () => {
    expect(() =>
      parseLlamaConfig({ ...base, architectures: ['GPT2LMHeadModel'] }, '/m/config.json'),
    ).toThrow(
      '/m/config.json: unknown architecture ["GPT2LMHeadModel"] (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)',
    );
  });

  it('rejects what the model builder cannot do', () => {
    expect(() => parseLlamaConfig({ ...base, hidden_act: 'gelu' }, 'c')).toThrow(
      /"hidden_act" "gelu" is not supported/,
    );
    expect(() =>
      parseLlamaConfig(
        {
          ...base,
          architectures: ['MistralForCausalLM'],
          sliding_window: 4096,
          max_position_embeddings: 32768,
        },
        'c',
      ),
    ).toThrow(/sliding-window attention/);
    expect(() => parseLlamaConfig({ ...base, num_key_value_heads: 3 }, 'c')).toThrow(
      /not a multiple/,
    );
    expect(() =>
      parseLlamaConfig({ ...base, rope_scaling: { rope_type: 'yarn', factor: 4 } }, 'c'),
    ).toThrow(/rope_scaling type "yarn" is not supported/);
  });

  it('applies Llama 3.1 RoPE scaling band by band', () => {
    // Llama 3.1 8B: head_dim 128, theta 500000, factor 8, low 1, high 4, original 8192.
    const c = parseLlamaConfig(
      {
        ...base,
        hidden_size: 4096,
        num_attention_heads: 32,
        num_key_value_heads: 8,
        rope_theta: 500000,
        rope_scaling: {
          rope_type: 'llama3',
          factor: 8,
          low_freq_factor: 1,
          high_freq_factor: 4,
          original_max_position_embeddings: 8192,
        },
      },
      'c',
    );
    const inv = ropeInverseFrequencies(c);
    const plain = (i: number): number => 1 / 500000 ** ((2 * i) / 128);
    // Wavelength 2*pi/f: below 8192/4 = 2048 kept, above 8192 divided by 8, between smoothed.
    expect(inv[0]).toBe(1);
    expect(inv[10]).toBe(Math.fround(plain(10))); // wavelength ~ 47
    expect(inv[63]).toBe(Math.fround(plain(63) / 8)); // wavelength ~ 2.8e6
    const i = 40; // wavelength 2*pi*500000^(80/128) ~ 2.3e4: above 8192, divided
    expect(inv[i]).toBe(Math.fround(plain(i) / 8));
    const m = 30; // wavelength ~ 3.0e3: in the smoothed band
    const smooth = (8192 / ((2 * Math.PI) / plain(m)) - 1) / 3;
    expect(inv[m]).toBe(Math.fround((1 - smooth) * (plain(m) / 8) + smooth * plain(m)));
    expect(smooth).toBeGreaterThan(0);
    expect(smooth).toBeLessThan(1);
  });
});
