// The trainer pool member: takes jobs from the device's work queue and runs N at a time.
import type { WorkQueue } from '@lathe/bus';
import type { JobQueued } from '@lathe/contracts/lathe/training/v1/events';
import { AttemptRunner, type AttemptDeps, type AttemptOutcome } from './attempt-runner.js';

/** Queue name of a device: the work-queue subject is `lathe.work.training-<device>`. */
export function trainingQueueName(device: 'cpu' | 'cuda'): string {
  return `training-${device}`;
}

/** Options of {@link TrainerWorker}. */
export interface TrainerWorkerOptions {
  /** Jobs trained at once. */
  readonly concurrency: number;
  /** How long one pull waits for a job before looking again. Default 2000 ms. */
  readonly pollMs?: number;
  /** Called after each delivery, with its outcome (logs, tests). */
  readonly onSettled?: (jobId: string, outcome: AttemptOutcome) => void;
}

/**
 * Pulls JobQueued messages from one work queue with `concurrency` loops, each running one
 * {@link AttemptRunner} at a time. {@link shutdown} stops pulling and asks every running attempt
 * to stop at its next step boundary (checkpointing, then giving its message back).
 */
export class TrainerWorker {
  private stopping = false;
  private readonly running = new Set<AttemptRunner>();
  private loops: Promise<void>[] = [];

  constructor(
    private readonly deps: AttemptDeps,
    private readonly queue: WorkQueue<JobQueued>,
    private readonly options: TrainerWorkerOptions,
  ) {}

  /** Starts the pulling loops. */
  start(): void {
    for (let i = 0; i < this.options.concurrency; i++) this.loops.push(this.loop(i));
  }

  /** Jobs being trained now. */
  get activeJobs(): string[] {
    return [...this.running].map((r) => r.jobId);
  }

  private async loop(slot: number): Promise<void> {
    while (!this.stopping) {
      let delivery;
      try {
        delivery = await this.queue.take({ waitMs: this.options.pollMs ?? 2000 });
      } catch (error) {
        this.deps.log.warn('could not pull from the work queue', { slot, error: String(error) });
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (delivery === undefined) continue;
      if (this.stopping) {
        await delivery.nak(0).catch(() => undefined);
        break;
      }
      const runner = new AttemptRunner(this.deps, delivery);
      this.running.add(runner);
      try {
        const outcome = await runner.run();
        this.options.onSettled?.(runner.jobId, outcome);
      } finally {
        this.running.delete(runner);
      }
    }
  }

  /**
   * Stops taking jobs, asks running attempts to checkpoint and give their jobs back, and resolves
   * when every loop has ended.
   */
  async shutdown(): Promise<void> {
    this.stopping = true;
    for (const r of this.running) r.requestStop('shutdown');
    await Promise.all(this.loops);
  }
}
