import type { EventBus } from '@lathe/bus';
import type { Logger } from '@lathe/service-kit';
import type { DatasetCatalog, ModelCatalog, Quantizer } from '../clients/downstream-clients.js';
import type { TrainingQueues } from '../events/training-events.js';
import type { JobStore } from '../store/job-store.js';

/** What the training service's logic needs, opened by the caller (main.ts, `lathe dev`, tests). */
export interface TrainingDeps {
  /** Jobs, attempts, checkpoints and events (schema `training`). */
  readonly store: JobStore;
  /** Where job events are published (lathe.training.*). */
  readonly bus: EventBus;
  /** The per-device work queues on `bus`. */
  readonly queues: TrainingQueues;
  /** The registry: resolves base models. */
  readonly models: ModelCatalog;
  /** The datasets service: resolves dataset versions. */
  readonly datasets: DatasetCatalog;
  /** The quantization service: NF4 bases for QLoRA jobs. */
  readonly quantizer: Quantizer;
  /** Attempts a new job gets. */
  readonly maxAttempts: number;
  /** How often a WatchJob stream looks for new events, ms. */
  readonly watchPollMs: number;
  /** How long a QLoRA job waits for its NF4 base, ms. */
  readonly quantizeTimeoutMs: number;
  /** Service log. */
  readonly log: Logger;
  /** Aborted when the service stops: watch streams end UNAVAILABLE, background work stops. */
  readonly stopping: AbortSignal;
}
