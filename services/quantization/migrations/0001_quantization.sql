-- Quantization jobs: what was asked (source version and spec), where each stands, and what it
-- produced (the registered model version and the quality report).
CREATE TABLE jobs (
  id text PRIMARY KEY,
  -- 1 QUEUED, 2 RUNNING, 3 SUCCEEDED, 4 FAILED, 5 CANCELLED (QuantizationJobState)
  state smallint NOT NULL,
  source_name text NOT NULL,
  source_version integer NOT NULL,
  source_sha256 text NOT NULL,
  -- { "scheme", "blockSize", "doubleQuant", "nestedBlockSize" } as validated
  spec jsonb NOT NULL,
  -- sha256 of (source digest, spec): equal keys give equal bytes, so results are shared
  cache_key text NOT NULL,
  output_name text NOT NULL,
  idempotency_key text UNIQUE,
  -- sha256 of the request an idempotency key was first used with
  request_sha256 text NOT NULL,
  -- W3C trace context of the request, so the job's spans and events join its trace
  trace_headers jsonb NOT NULL DEFAULT '{}',
  tensors_done integer NOT NULL DEFAULT 0,
  tensors_total integer NOT NULL DEFAULT 0,
  result_name text,
  result_version integer,
  result_sha256 text,
  -- lathe.quantization.v1.QualityReport, protobuf-encoded (keeps +Inf SNRs exact)
  report bytea,
  bits_per_parameter double precision,
  bytes_before bigint,
  bytes_after bigint,
  failure_reason text,
  failure_message text,
  create_time timestamptz NOT NULL DEFAULT now(),
  start_time timestamptz,
  end_time timestamptz
);

-- At most one live job per cache key: a second request joins it instead of quantizing again.
CREATE UNIQUE INDEX jobs_one_live_per_key ON jobs (cache_key) WHERE state IN (1, 2);
CREATE INDEX jobs_by_key ON jobs (cache_key, state);
CREATE INDEX jobs_newest_first ON jobs (create_time DESC, id DESC);
