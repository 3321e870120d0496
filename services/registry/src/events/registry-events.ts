import { randomUUID } from 'node:crypto';
import { defineEvent, type EventBus } from '@lathe/bus';
import {
  AdapterRegistered,
  AliasMoved,
  ModelRegistered,
} from '@lathe/contracts/lathe/registry/v1/events';
import type { AliasMove, ModelVersionRecord } from '../domain/model-version.js';

/** lathe.registry.model_registered: any new version. */
export const ModelRegisteredEvent = defineEvent('registry', 'model_registered', ModelRegistered);
/** lathe.registry.adapter_registered: a new adapter version. */
export const AdapterRegisteredEvent = defineEvent(
  'registry',
  'adapter_registered',
  AdapterRegistered,
);
/** lathe.registry.alias_moved: an alias created, moved or removed. */
export const AliasMovedEvent = defineEvent('registry', 'alias_moved', AliasMoved);

/** Every event type the registry publishes, for declaring streams at start. */
export const REGISTRY_EVENTS = [ModelRegisteredEvent, AdapterRegisteredEvent, AliasMovedEvent];

/** Publishes the registry's facts on the bus, after they are committed. */
export class RegistryEvents {
  constructor(private readonly bus: EventBus) {}

  /** ModelRegistered, and AdapterRegistered for adapters. */
  async versionRegistered(v: ModelVersionRecord): Promise<void> {
    const version = { ...v.ref };
    // The id derives from the version, so a retried publish is dropped by the stream's dedupe.
    const id = `model-registered-${v.ref.name}-${String(v.ref.version)}-${v.ref.manifestSha256.slice(0, 16)}`;
    await this.bus.publish(
      ModelRegisteredEvent,
      {
        eventId: id,
        occurredAt: v.createTime,
        version,
        kind: v.kind,
        totalSizeBytes: v.totalSizeBytes,
      },
      { id },
    );
    const adapter = v.details.adapter;
    if (adapter !== undefined) {
      const aid = `adapter-registered-${v.ref.name}-${String(v.ref.version)}-${v.ref.manifestSha256.slice(0, 16)}`;
      await this.bus.publish(
        AdapterRegisteredEvent,
        {
          eventId: aid,
          occurredAt: v.createTime,
          adapter: version,
          base: { ...adapter.base },
          trainingJobId: v.details.training?.jobId ?? '',
        },
        { id: aid },
      );
    }
  }

  /** AliasMoved. */
  async aliasMoved(m: AliasMove): Promise<void> {
    const id = randomUUID();
    await this.bus.publish(
      AliasMovedEvent,
      { eventId: id, occurredAt: m.changeTime, change: { ...m } },
      { id },
    );
  }
}
