// The training service assembled over opened dependencies: its gRPC descriptor, the background
// sweep that queues recorded jobs whose JobQueued was never published (and resumes QLoRA jobs
// waiting for their NF4 base), and, on JetStream, the watch that fails jobs no trainer could
// start. Used by main.ts and by startTrainingService.
import type { EventBus } from '@lathe/bus';
import { Logger, type ServiceDescriptor } from '@lathe/service-kit';
import type { TrainingServiceService } from '@lathe/contracts/lathe/training/v1/training_service';
import type { DatasetCatalog, ModelCatalog, Quantizer } from './clients/downstream-clients.js';
import { DEFAULT_STALE_ATTEMPT_MS, TRAINING_SERVICE } from './config.js';
import { awaitsQuantization, enqueueJob } from './domain/job-queueing.js';
import { prepareQloraBase } from './domain/qlora-base.js';
import { StrandedJobs } from './domain/stranded-jobs.js';
import type { TrainingDeps } from './domain/training-deps.js';
import { TrainingQueues } from './events/training-events.js';
import type { WorkQueueWatch } from './events/work-queue-monitor.js';
import { createTrainingService } from './server.js';
import { DEFAULT_MAX_ATTEMPTS, type JobStore } from './store/job-store.js';

/** What the training service runs on, opened by the caller, and its settings. */
export interface TrainingServiceInputs {
  readonly store: JobStore;
  readonly bus: EventBus;
  readonly models: ModelCatalog;
  readonly datasets: DatasetCatalog;
  readonly quantizer: Quantizer;
  /** Default {@link DEFAULT_MAX_ATTEMPTS}. */
  readonly maxAttempts?: number;
  /** Work-queue ack wait, ms; default 30000. Keep equal to the trainers'. */
  readonly ackWaitMs?: number;
  /** Work-queue deliveries before JetStream gives up; default 10. Keep equal to the trainers'. */
  readonly maxDeliveries?: number;
  /** WatchJob poll interval, ms; default 200. */
  readonly watchPollMs?: number;
  /** How long a QLoRA job waits for its NF4 base, ms; default 3600000. */
  readonly quantizeTimeoutMs?: number;
  /** Interval of the outbox sweep, ms; default 30000 (it also runs once at start). */
  readonly sweepMs?: number;
  /**
   * The work queues' exhausted and stored messages (JetStream only; see `WorkQueueMonitor`).
   * Unset: jobs stranded on the queue are not detected (the in-process bus never strands one).
   */
  readonly workQueueWatch?: WorkQueueWatch;
  /** Interval of the stranded-job sweep, ms; default 60000 (it also runs once at start). */
  readonly strandedSweepMs?: number;
  /** A QUEUED job unchanged this long whose work message is gone is failed, ms; default 600000. */
  readonly queuedLostAfterMs?: number;
  /**
   * A running attempt without a heartbeat this long no longer holds a job whose work message is
   * exhausted (the attempt ends LOST, the job fails), ms; default {@link DEFAULT_STALE_ATTEMPT_MS}.
   */
  readonly staleAttemptMs?: number;
  /** Default a `training` logger at info. */
  readonly log?: Logger;
}

/** The assembled service: its descriptor, dependencies and background work. */
export interface TrainingRuntime {
  readonly descriptor: ServiceDescriptor<typeof TrainingServiceService>;
  readonly deps: TrainingDeps;
  /**
   * Starts the outbox sweep (once now, then every `sweepMs`) and, with a work-queue watch, the
   * advisory listener and the stranded-job sweep (once now, then every `strandedSweepMs`).
   */
  start(): void;
  /** Ends watch streams (UNAVAILABLE: clients reconnect elsewhere) and background work. */
  stop(): void;
  /** Runs the outbox sweep once (tests). */
  sweep(): Promise<void>;
  /** Runs the stranded-job sweep once (tests); nothing without a work-queue watch. */
  sweepStranded(): Promise<void>;
}

/** Assembles the service over `inputs`; nothing runs until {@link TrainingRuntime.start}. */
export function createTrainingRuntime(inputs: TrainingServiceInputs): TrainingRuntime {
  const stopping = new AbortController();
  const log = inputs.log ?? new Logger(TRAINING_SERVICE, 'info');
  const deps: TrainingDeps = {
    store: inputs.store,
    bus: inputs.bus,
    queues: new TrainingQueues(inputs.bus, {
      ackWaitMs: inputs.ackWaitMs ?? 30_000,
      maxDeliveries: inputs.maxDeliveries ?? 10,
    }),
    models: inputs.models,
    datasets: inputs.datasets,
    quantizer: inputs.quantizer,
    maxAttempts: inputs.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    watchPollMs: inputs.watchPollMs ?? 200,
    quantizeTimeoutMs: inputs.quantizeTimeoutMs ?? 3_600_000,
    log,
    stopping: stopping.signal,
  };
  const preparing = new Set<string>();
  const sweep = async (): Promise<void> => {
    for (const job of await deps.store.unpublishedJobs()) {
      if (stopping.signal.aborted) return;
      if (await awaitsQuantization(deps, job)) {
        if (preparing.has(job.id)) continue;
        preparing.add(job.id);
        void prepareQloraBase(deps, job.id).finally(() => preparing.delete(job.id));
      } else {
        await enqueueJob(deps, job.id);
        log.info('queued a job left unpublished', { jobId: job.id });
      }
    }
  };
  const watch = inputs.workQueueWatch;
  const stranded =
    watch === undefined
      ? undefined
      : new StrandedJobs(deps, watch, {
          queuedLostAfterMs: inputs.queuedLostAfterMs ?? 600_000,
          staleAttemptMs: inputs.staleAttemptMs ?? DEFAULT_STALE_ATTEMPT_MS,
        });
  const sweepStranded = async (): Promise<void> => stranded?.sweep();
  const timers: NodeJS.Timeout[] = [];
  const every = (what: string, run: () => Promise<void>, ms: number): void => {
    const runLogged = (): void => {
      run().catch((error: unknown) =>
        log.warn(`${what} failed`, {
          error: error instanceof Error ? error.message : String(error),
        }),
      );
    };
    runLogged();
    const timer = setInterval(runLogged, ms);
    timer.unref();
    timers.push(timer);
  };
  return {
    descriptor: createTrainingService(deps),
    deps,
    start: () => {
      every('outbox sweep', sweep, inputs.sweepMs ?? 30_000);
      if (stranded === undefined) return;
      stranded.listen();
      every('stranded-job sweep', sweepStranded, inputs.strandedSweepMs ?? 60_000);
    },
    stop: () => {
      stopping.abort();
      for (const timer of timers.splice(0)) clearInterval(timer);
      void watch?.close();
    },
    sweep,
    sweepStranded,
  };
}
