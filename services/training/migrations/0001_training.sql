-- Training jobs, their attempts (fencing numbers), checkpoints and ordered event history.
CREATE TABLE jobs (
  id text PRIMARY KEY,
  display_name text NOT NULL DEFAULT '',
  creator text NOT NULL DEFAULT '',
  method smallint NOT NULL,
  device smallint NOT NULL,
  state smallint NOT NULL,
  -- lathe.training.v1.JobSpec, protobuf-encoded, as submitted
  spec bytea NOT NULL,
  base_model text NOT NULL,
  base_model_version integer NOT NULL,
  base_model_sha256 text NOT NULL,
  dataset text NOT NULL,
  dataset_version integer NOT NULL,
  dataset_sha256 text NOT NULL,
  -- QLoRA: the NF4 registry model the trainer loads instead of the base ({name, version, manifestSha256})
  quantized_base jsonb,
  labels jsonb NOT NULL DEFAULT '{}',
  idempotency_key text UNIQUE,
  -- sha256 of the CreateJob request, to refuse a reused idempotency key with another request
  request_sha256 text NOT NULL DEFAULT '',
  traceparent text NOT NULL DEFAULT '',
  tracestate text NOT NULL DEFAULT '',
  trace_id text NOT NULL DEFAULT '',
  -- current (or last) attempt: the fencing number; 0 before the first delivery
  attempt integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL,
  -- event id of the JobQueued message; set once it was published (outbox)
  queue_event_id text NOT NULL,
  queued_publish_time timestamptz,
  cancel_requested boolean NOT NULL DEFAULT false,
  cancel_reason text NOT NULL DEFAULT '',
  -- {reason, message, retryable} when FAILED
  failure jsonb,
  -- lathe.training.v1.TrainingProgress, protobuf-encoded
  progress bytea,
  -- registered result {name, version, manifestSha256}
  result jsonb,
  last_sequence bigint NOT NULL DEFAULT 0,
  create_time timestamptz NOT NULL DEFAULT now(),
  start_time timestamptz,
  end_time timestamptz,
  update_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_create_time ON jobs (create_time DESC, id DESC);
CREATE INDEX jobs_state ON jobs (state);

CREATE TABLE attempts (
  job_id text NOT NULL REFERENCES jobs (id),
  number integer NOT NULL,
  worker_id text NOT NULL,
  -- what the worker reported: device, memory, execution provider, ...
  capabilities jsonb NOT NULL DEFAULT '{}',
  outcome smallint NOT NULL,
  resumed_from_checkpoint_id text NOT NULL DEFAULT '',
  resumed_from_step bigint NOT NULL DEFAULT 0,
  last_step bigint NOT NULL DEFAULT 0,
  start_time timestamptz NOT NULL DEFAULT now(),
  end_time timestamptz,
  heartbeat_time timestamptz NOT NULL DEFAULT now(),
  failure_message text NOT NULL DEFAULT '',
  PRIMARY KEY (job_id, number)
);

CREATE TABLE checkpoints (
  id text PRIMARY KEY,
  job_id text NOT NULL REFERENCES jobs (id),
  attempt integer NOT NULL,
  step bigint NOT NULL,
  epoch double precision NOT NULL,
  -- lathe.common.v1.ArtifactRef {sha256, sizeBytes, mediaType, uri}
  artifact jsonb NOT NULL,
  loss double precision NOT NULL,
  eval_loss double precision,
  create_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX checkpoints_job ON checkpoints (job_id, create_time, step);

CREATE TABLE job_events (
  job_id text NOT NULL REFERENCES jobs (id),
  -- from 1, without gaps, per job
  sequence bigint NOT NULL,
  attempt integer NOT NULL,
  -- 1 state change, 2 progress, 3 checkpoint
  kind smallint NOT NULL,
  -- lathe.training.v1.JobEvent, protobuf-encoded
  event bytea NOT NULL,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, sequence)
);
