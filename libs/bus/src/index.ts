export { rawBytesCodec, type EventCodec } from './codec.js';
export { BusError } from './errors.js';
export {
  DEAD_LETTER_STREAM,
  RESERVED_SERVICE_NAMES,
  deadLetterOf,
  defineEvent,
  type EventType,
} from './event-type.js';
export type {
  DeliveredEvent,
  EventBus,
  EventHandler,
  PublishOptions,
  PublishReceipt,
  RetryBackoff,
  SubscribeOptions,
  Subscription,
} from './event-bus.js';
export type { Job, RunJobOptions, WorkQueue, WorkQueueDefinition } from './work-queue.js';
export { DEAD_LETTER_HEADERS, readDeadLetter, type DeadLetterInfo } from './dead-letter.js';
export type { BusSettings } from './transport-event-bus.js';
export { connectJetStreamBus, type JetStreamBusOptions } from './connect-jetstream-bus.js';
export type { PublishRetry } from './jetstream-transport.js';
export { InProcessBroker, type InProcessBrokerOptions } from './in-process-broker.js';
