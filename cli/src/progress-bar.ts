import type { TrainingEvent } from '@lathe/llm';

/** How `lathe train` reports progress. */
export type ProgressMode = 'bar' | 'lines' | 'json' | 'none';

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m${rest}s` : `${m}m${rest}s`;
}

/** One human line for a step: what the bar shows after the bar itself. */
function stepText(e: Extract<TrainingEvent, { type: 'step' }>): string {
  return (
    `step ${e.step}/${e.totalSteps}  loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}  ` +
    `|g| ${e.gradNorm.toFixed(3)}  ${Math.round(e.tokensPerSecond)} tok/s  ETA ${duration(e.etaSeconds)}`
  );
}

/**
 * Renders training events: a redrawn bar on a terminal, one line per event in logs, or JSON Lines
 * (the structured events the mesh consumes). Human output goes to `err`, JSON to `out`.
 */
export class ProgressReporter {
  private barShown = false;

  constructor(
    private readonly mode: ProgressMode,
    private readonly out: NodeJS.WritableStream,
    private readonly err: NodeJS.WritableStream & { columns?: number },
  ) {}

  /** Reports one event. */
  report(e: TrainingEvent): void {
    if (this.mode === 'none') return;
    if (this.mode === 'json') {
      this.out.write(`${JSON.stringify(e)}\n`);
      return;
    }
    if (e.type === 'step' && this.mode === 'bar') {
      const width = 24;
      const filled = Math.round((width * e.step) / e.totalSteps);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
      this.err.write(`\r\x1b[2K${bar} ${stepText(e)}`);
      this.barShown = true;
      return;
    }
    this.line(this.text(e));
  }

  /** Ends a bar line so later output starts on a fresh line. */
  finish(): void {
    if (this.barShown) this.err.write('\n');
    this.barShown = false;
  }

  private line(text: string): void {
    if (this.barShown) this.err.write('\n');
    this.barShown = false;
    this.err.write(`${text}\n`);
  }

  private text(e: TrainingEvent): string {
    switch (e.type) {
      case 'start':
        return (
          `training steps ${e.startStep + 1}..${e.totalSteps} (${e.stepsPerEpoch} per epoch): ${e.examples} examples in ${e.rows} rows, ` +
          `${e.trainableParameters} trainable parameters` +
          (e.rejectedRecords > 0 ? `, ${e.rejectedRecords} bad records skipped` : '') +
          (e.truncatedExamples > 0 ? `, ${e.truncatedExamples} examples truncated` : '')
        );
      case 'step':
        return stepText(e);
      case 'eval':
        return `eval at step ${e.step}: loss ${e.loss.toFixed(4)}  perplexity ${e.perplexity.toFixed(3)}  (${e.tokens} tokens)`;
      case 'checkpoint':
        return `checkpoint at step ${e.step}: ${e.path}`;
    }
  }
}
