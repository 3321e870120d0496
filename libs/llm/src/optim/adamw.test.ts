import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { AdamW } from './adamw.js';
import { SeededRandom } from './seeded-random.js';

describe('AdamW', () => {
  it('matches a hand-computed two-step update (decoupled decay, bias correction)', () => {
    // p0 = 1, lr = 0.1, wd = 0.01, betas (0.9, 0.999), eps 1e-8.
    // Step 1, g = 0.5:  p = 1*(1-0.001) = 0.999; m = 0.05; v = 0.00025;
    //   p -= (0.1/0.1) * 0.05 / (sqrt(0.00025)/sqrt(0.001) + 1e-8) = 0.1 * 0.5/(0.5+1e-8)  -> 0.899000002
    // Step 2, g = -0.25: p = 0.899000002*0.999; m = 0.02; v = 0.00031225;
    //   p -= (0.1/0.19) * 0.02 / (sqrt(0.00031225)/sqrt(0.001999) + 1e-8)               -> 0.8714672987
    const opt = new AdamW({ weightDecay: 0.01 });
    const p = new Float32Array([1]);
    const params = new Map([['w', p]]);
    opt.update(params, new Map([['w', new Float32Array([0.5])]]), 0.1);
    expect(p[0]).toBeCloseTo(0.899000002, 6);
    opt.update(params, new Map([['w', new Float32Array([-0.25])]]), 0.1);
    expect(p[0]).toBeCloseTo(0.8714672987, 6);
    expect(opt.step).toBe(2);
    const m = opt.state().moments.get('w');
    expect(m?.expAvg[0]).toBeCloseTo(0.02, 7);
    expect(m?.expAvgSq[0]).toBeCloseTo(0.00031225, 9);
  });

  it('restores its state exactly: a resumed optimizer continues bit for bit', () => {
    const rng = SeededRandom.fromSeed(3);
    const grads = Array.from({ length: 6 }, () => rng.uniformArray(32, -1, 1));
    const run = (split: boolean): Float32Array => {
      const p = SeededRandom.fromSeed(9).uniformArray(32, -1, 1);
      let opt = new AdamW();
      grads.forEach((g, i) => {
        if (split && i === 3) {
          const saved = opt.state();
          opt = new AdamW();
          opt.loadState(saved);
        }
        opt.update(new Map([['p', p]]), new Map([['p', g]]), 1e-2);
      });
      return p;
    };
    expect(run(true)).toEqual(run(false));
  });

  it('rejects mismatched gradients with a message naming the tensor', () => {
    const opt = new AdamW();
    const params = new Map([['a', new Float32Array(2)]]);
    expect(() => opt.update(params, new Map([['a', new Float32Array(3)]]), 0.1)).toThrow(
      /"a" has 3 values/,
    );
    expect(() => opt.update(params, new Map(), 0.1)).toThrow(/"a" has no gradient/);
    expect(() => new AdamW({ beta1: 1 })).toThrow(/beta1/);
  });

  const torchProbe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
  const torchMissing =
    torchProbe.status !== 0
      ? `no torch in /usr/bin/python3: ${torchProbe.stderr.trim().split('\n').pop() ?? ''}`
      : '';
  if (torchMissing !== '') console.warn(`skipping torch.optim.AdamW comparison (${torchMissing})`);

  it.skipIf(torchMissing !== '')(
    'agrees with torch.optim.AdamW over 20 steps with a changing lr (1e-6)',
    () => {
      const rng = SeededRandom.fromSeed(11);
      const p0 = Array.from(rng.uniformArray(64, -1, 1));
      const gs = Array.from({ length: 20 }, () => Array.from(rng.uniformArray(64, -2, 2)));
      const lrs = gs.map((_, i) => 0.05 * (1 - i / 25));
      const script = `
import json, sys, torch
d = json.load(sys.stdin)
p = torch.nn.Parameter(torch.tensor(d["p0"], dtype=torch.float32))
opt = torch.optim.AdamW([p], lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)
for g, lr in zip(d["gs"], d["lrs"]):
    for group in opt.param_groups: group["lr"] = lr
    p.grad = torch.tensor(g, dtype=torch.float32)
    opt.step()
print(json.dumps(p.detach().tolist()))
`;
      const out = spawnSync('/usr/bin/python3', ['-c', script], {
        input: JSON.stringify({ p0, gs, lrs }),
        encoding: 'utf8',
      });
      expect(out.status, out.stderr).toBe(0);
      const expected = JSON.parse(out.stdout) as number[];
      const p = Float32Array.from(p0);
      const opt = new AdamW({ beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1 });
      gs.forEach((g, i) =>
        opt.update(new Map([['p', p]]), new Map([['p', Float32Array.from(g)]]), lrs[i] ?? 0),
      );
      let maxErr = 0;
      p.forEach((v, i) => (maxErr = Math.max(maxErr, Math.abs(v - (expected[i] ?? NaN)))));
      expect(maxErr).toBeLessThan(1e-6);
    },
  );
});
