import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { TrainingEvent } from '@lathe/llm';
import { ProgressReporter } from './progress-bar.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

const step: TrainingEvent = {
  type: 'step',
  step: 5,
  totalSteps: 10,
  epoch: 0,
  loss: 2.5,
  lr: 1e-4,
  gradNorm: 0.75,
  tokens: 100,
  tokensPerSecond: 1234.4,
  elapsedSeconds: 5,
  etaSeconds: 65,
};

describe('ProgressReporter', () => {
  it('redraws one bar line on a terminal and ends it before other output', () => {
    const [out, err] = [new Capture(), new Capture()];
    const r = new ProgressReporter('bar', out, err);
    r.report(step);
    r.report({ ...step, step: 10 });
    r.report({ type: 'checkpoint', step: 10, path: '/runs/a/checkpoints/step-000010' });
    expect(err.text).toBe(
      '\r\x1b[2K[############............] step 5/10  loss 2.5000  lr 1.00e-4  |g| 0.750  1234 tok/s  ETA 1m05s' +
        '\r\x1b[2K[########################] step 10/10  loss 2.5000  lr 1.00e-4  |g| 0.750  1234 tok/s  ETA 1m05s\n' +
        'checkpoint at step 10: /runs/a/checkpoints/step-000010\n',
    );
    expect(out.text).toBe('');
  });

  it('writes events as JSON Lines on stdout for the mesh', () => {
    const [out, err] = [new Capture(), new Capture()];
    new ProgressReporter('json', out, err).report(step);
    expect(JSON.parse(out.text)).toEqual(step);
    expect(err.text).toBe('');
  });
});
