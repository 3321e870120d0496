import type { EventCodec } from './codec.js';
import { BusError } from './errors.js';

/**
 * One kind of event: published by `service` on subject `lathe.<service>.<event>`, its payload
 * encoded by `codec`. Create it with {@link defineEvent}.
 */
export interface EventType<T> {
  /** The publishing service, e.g. `datasets`; also names its stream `LATHE_DATASETS`. */
  readonly service: string;
  /** The event name, e.g. `version_created`. */
  readonly event: string;
  /** `lathe.<service>.<event>` */
  readonly subject: string;
  /** The stream holding this service's events: `LATHE_<SERVICE>`. */
  readonly stream: string;
  /** The subjects that stream holds: `lathe.<service>.>`. */
  readonly streamSubjects: string;
  /** Encodes and decodes the payload. */
  readonly codec: EventCodec<T>;
}

// Subject tokens and stream names must not contain `.`, `*`, `>` or whitespace; we are stricter
// (lower-case, starting with a letter) so that the upper-cased stream name is unambiguous.
const NAME = /^[a-z][a-z0-9_-]*$/;

/** Names the bus keeps for itself: subjects under them are not a service's events. */
export const RESERVED_SERVICE_NAMES: readonly string[] = ['deadletter', 'work'];

/** Throws a {@link BusError} unless `value` is a usable subject token / stream-name part. */
export function assertName(kind: string, value: string): void {
  if (!NAME.test(value)) {
    throw new BusError(
      `${kind} "${value}" is not a valid name: use lower-case letters, digits, "_" or "-", starting with a letter`,
    );
  }
}

/** The stream name for a service (or work queue) name: `LATHE_<NAME>` with `-` as `_`. */
export function streamName(...parts: string[]): string {
  return ['LATHE', ...parts].join('_').toUpperCase().replaceAll('-', '_');
}

/**
 * Declares an event type.
 *
 * @example
 * const VersionCreated = defineEvent('datasets', 'version_created', DatasetVersionCreated);
 */
export function defineEvent<T>(service: string, event: string, codec: EventCodec<T>): EventType<T> {
  assertName('service', service);
  assertName('event', event);
  if (RESERVED_SERVICE_NAMES.includes(service)) {
    throw new BusError(
      `service "${service}" is reserved by the bus (${RESERVED_SERVICE_NAMES.join(', ')})`,
    );
  }
  return {
    service,
    event,
    subject: `lathe.${service}.${event}`,
    stream: streamName(service),
    streamSubjects: `lathe.${service}.>`,
    codec,
  };
}

/** The stream that receives every dead letter, on `lathe.deadletter.>`. */
export const DEAD_LETTER_STREAM = streamName('deadletter');

/** The subjects of {@link DEAD_LETTER_STREAM}. */
export const DEAD_LETTER_SUBJECTS = 'lathe.deadletter.>';

/**
 * The dead-letter counterpart of an event type: subject `lathe.deadletter.<service>.<event>`, the
 * same codec (a dead letter carries the original payload), stream {@link DEAD_LETTER_STREAM}.
 */
export function deadLetterOf<T>(type: EventType<T>): EventType<T> {
  return {
    service: type.service,
    event: type.event,
    subject: `lathe.deadletter.${type.service}.${type.event}`,
    stream: DEAD_LETTER_STREAM,
    streamSubjects: DEAD_LETTER_SUBJECTS,
    codec: type.codec,
  };
}
