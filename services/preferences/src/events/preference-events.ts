import { defineEvent } from '@lathe/bus';
import {
  JudgementSubmitted,
  PairRecorded,
  SnapshotCreated,
} from '@lathe/contracts/lathe/preferences/v1/events';

/** `lathe.preferences.judgement_submitted`: a judgement was recorded or revised. */
export const JudgementSubmittedEvent = defineEvent(
  'preferences',
  'judgement_submitted',
  JudgementSubmitted,
);
/** `lathe.preferences.pair_recorded`: a preference pair was recorded directly. */
export const PairRecordedEvent = defineEvent('preferences', 'pair_recorded', PairRecorded);
/** `lathe.preferences.snapshot_created`: a task was snapshotted into a dataset version. */
export const SnapshotCreatedEvent = defineEvent('preferences', 'snapshot_created', SnapshotCreated);

/** The events this service publishes, by event name (as stored in the outbox). */
export const PREFERENCE_EVENTS = {
  judgement_submitted: JudgementSubmittedEvent,
  pair_recorded: PairRecordedEvent,
  snapshot_created: SnapshotCreatedEvent,
} as const;

/** Name of one of {@link PREFERENCE_EVENTS}. */
export type PreferenceEventName = keyof typeof PREFERENCE_EVENTS;
