// How `lathe jobs watch` shows a job's events: a redrawn progress bar with loss, eval loss and
// ETA on a terminal, one plain line per event otherwise, or JSON Lines.
import type { Checkpoint, TrainingProgress } from '@lathe/contracts/lathe/training/v1/job';
import { JobState } from '@lathe/contracts/lathe/training/v1/job';
import { JobEvent } from '@lathe/contracts/lathe/training/v1/job_event';

/** How events are shown. */
export type JobsOutput = 'bar' | 'lines' | 'json';

/** A state's lowercase name: "running". */
export function stateText(state: JobState): string {
  return (JobState[state] ?? String(state)).replace(/^JOB_STATE_/, '').toLowerCase();
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${String(h)}h${String(m).padStart(2, '0')}m${rest}s` : `${String(m)}m${rest}s`;
}

/** One line of figures: step, loss, eval loss, lr, throughput, ETA. */
export function progressText(p: TrainingProgress): string {
  const eta = p.eta === undefined ? '?' : duration(p.eta.seconds + p.eta.nanos / 1e9);
  return (
    `step ${String(p.step)}/${String(p.totalSteps)}  loss ${p.loss.toFixed(4)}` +
    (p.evalLoss === undefined ? '' : `  eval ${p.evalLoss.toFixed(4)}`) +
    `  lr ${p.learningRate.toExponential(2)}  ${String(Math.round(p.tokensPerSecond))} tok/s  ETA ${eta}`
  );
}

function checkpointText(c: Checkpoint): string {
  return (
    `checkpoint at step ${String(c.step)} (attempt ${String(c.attempt)}): loss ${c.loss.toFixed(4)}` +
    (c.evalLoss === undefined ? '' : `, eval ${c.evalLoss.toFixed(4)}`) +
    `, ${String(c.artifact?.sizeBytes ?? 0)} bytes`
  );
}

/** The plain text of one event (what `lines` prints). */
export function eventText(e: JobEvent): string {
  const body = e.event;
  const prefix = `#${String(e.sequence)}`;
  if (body === undefined) return `${prefix} (empty event)`;
  switch (body.$case) {
    case 'stateChange': {
      const c = body.stateChange;
      const moved =
        c.from === c.to || c.from === JobState.JOB_STATE_UNSPECIFIED
          ? stateText(c.to)
          : `${stateText(c.from)} -> ${stateText(c.to)}`;
      const failure = c.failure === undefined ? '' : ` [${c.failure.reason}: ${c.failure.message}]`;
      return `${prefix} ${moved}${c.reason === '' ? '' : `: ${c.reason}`}${failure}`;
    }
    case 'progress':
      return `${prefix} ${progressText(body.progress)}`;
    case 'checkpoint':
      return `${prefix} ${checkpointText(body.checkpoint)}`;
  }
}

/** Renders a stream of job events to `out` (json) or `err` (bar and lines). */
export class JobEventRenderer {
  private barShown = false;
  /** The job's state after the events so far. */
  state: JobState = JobState.JOB_STATE_UNSPECIFIED;

  constructor(
    private readonly mode: JobsOutput,
    private readonly out: NodeJS.WritableStream,
    private readonly err: NodeJS.WritableStream,
  ) {}

  /** Shows one event. */
  render(e: JobEvent): void {
    if (e.event?.$case === 'stateChange') this.state = e.event.stateChange.to;
    if (this.mode === 'json') {
      this.out.write(`${JSON.stringify(JobEvent.toJSON(e))}\n`);
      return;
    }
    const body = e.event;
    if (this.mode === 'bar' && body?.$case === 'progress') {
      const p = body.progress;
      const width = 24;
      const filled =
        p.totalSteps > 0 ? Math.min(width, Math.round((width * p.step) / p.totalSteps)) : 0;
      this.err.write(
        `\r\x1b[2K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${progressText(p)}`,
      );
      this.barShown = true;
      return;
    }
    this.line(eventText(e));
  }

  /** A note (reconnecting, ...) on its own line; nothing in json mode. */
  note(text: string): void {
    if (this.mode !== 'json') this.line(text);
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
}
