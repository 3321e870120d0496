import { hostname } from 'node:os';
import type { ArtifactStore } from '@lathe/artifacts';
import type { EventBus } from '@lathe/bus';
import type { QuantizationServiceService } from '@lathe/contracts/lathe/quantization/v1/quantization_service';
import type { Logger, ServiceDescriptor } from '@lathe/service-kit';
import type { SqlClient } from '@lathe/store';
import { QuantizationJobs } from './app/quantization-jobs.js';
import type { RegistryGateway } from './clients/registry.js';
import { QUANTIZATION_EVENTS, QuantizationEvents } from './events/quantization-events.js';
import { quantizationService } from './server.js';
import { QuantizationStore } from './store/quantization-store.js';

/** What the quantization service runs on, opened by its host (main.ts, or an embedded mesh). */
export interface QuantizationServiceDeps {
  /** The service's metadata store, migrated (see openQuantizationStore). */
  readonly sql: SqlClient;
  /** Where QuantizationCompleted / QuantizationFailed go. */
  readonly bus: EventBus;
  /** The registry: sources are resolved and downloaded there, results registered. */
  readonly registry: RegistryGateway;
  /** The registry's artifact store (namespace `registry`), where results are put first. */
  readonly artifacts: ArtifactStore;
  /** Scratch space for downloads and quantized files. */
  readonly scratchDir: string;
  /** Jobs quantized at once (each on a worker thread). Default 1. */
  readonly concurrency?: number;
  /**
   * This replica's name in job leases; stable across its restarts (default the host name), so
   * a restarted replica takes its interrupted jobs back at once.
   */
  readonly replicaId?: string;
  /** How long a running job's lease lasts without renewal, ms. Default 30 000. */
  readonly leaseMs?: number;
  readonly log: Logger;
}

/** A started quantization service: its descriptor to serve, its jobs, and how to stop them. */
export interface QuantizationServiceInstance {
  /** Serve with the kit's `startService` / `runServiceMain`. */
  readonly descriptor: ServiceDescriptor<typeof QuantizationServiceService>;
  readonly jobs: QuantizationJobs;
  /**
   * Interrupts running jobs (they stay RUNNING in the store and are requeued at the next start);
   * closes nothing it was given.
   */
  stop(): Promise<void>;
}

/**
 * Starts the quantization service on opened dependencies: declares its event streams, requeues
 * jobs a previous process left running, starts the job runner, and returns the descriptor to
 * serve. Reads no environment, so several services can run in one process.
 */
export async function startQuantizationService(
  deps: QuantizationServiceDeps,
): Promise<QuantizationServiceInstance> {
  await deps.bus.declareEvents(QUANTIZATION_EVENTS);
  const leaseMs = deps.leaseMs ?? 30_000;
  const jobs = new QuantizationJobs({
    store: new QuantizationStore(deps.sql, deps.replicaId ?? hostname(), leaseMs),
    leaseMs,
    registry: deps.registry,
    artifacts: deps.artifacts,
    events: new QuantizationEvents(deps.bus),
    scratchDir: deps.scratchDir,
    concurrency: deps.concurrency ?? 1,
    log: deps.log,
  });
  await jobs.start();
  return { descriptor: quantizationService(jobs), jobs, stop: () => jobs.stop() };
}
