-- Datasets, the uploads staged into them, and the immutable versions curated from them.
CREATE TABLE datasets (
  id bigserial PRIMARY KEY,
  name text NOT NULL UNIQUE,
  kind integer NOT NULL,
  description text NOT NULL DEFAULT '',
  labels jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);

-- state: 'receiving' while the body streams in (invisible to curation), 'staged' once complete.
CREATE TABLE uploads (
  id text PRIMARY KEY,
  seq bigserial UNIQUE,
  dataset_id bigint NOT NULL REFERENCES datasets (id),
  state text NOT NULL,
  requested_format integer NOT NULL,
  detected_format integer NOT NULL DEFAULT 0,
  accepted_count bigint NOT NULL DEFAULT 0,
  rejected_count bigint NOT NULL DEFAULT 0,
  raw_sha256 text NOT NULL DEFAULT '',
  raw_size bigint NOT NULL DEFAULT 0,
  source_name text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  curated_in_version integer NOT NULL DEFAULT 0
);
CREATE INDEX uploads_dataset ON uploads (dataset_id, seq);

-- Accepted records of uploads, in canonical JSON, waiting for curation.
CREATE TABLE staged_records (
  upload_id text NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
  line bigint NOT NULL,
  record_id text NOT NULL,
  content text NOT NULL,
  PRIMARY KEY (upload_id, line)
);

CREATE TABLE versions (
  dataset_id bigint NOT NULL REFERENCES datasets (id),
  version integer NOT NULL,
  manifest_sha256 text NOT NULL,
  manifest_size bigint NOT NULL,
  train_sha256 text NOT NULL,
  train_size bigint NOT NULL,
  eval_sha256 text NOT NULL DEFAULT '',
  eval_size bigint NOT NULL DEFAULT 0,
  train_count bigint NOT NULL,
  eval_count bigint NOT NULL,
  removed_count bigint NOT NULL,
  base_version integer NOT NULL DEFAULT 0,
  upload_ids text[] NOT NULL,
  description text NOT NULL DEFAULT '',
  -- The CurationSpec and DatasetStats, protobuf-encoded: the contract's own shape.
  spec bytea NOT NULL,
  stats bytea NOT NULL,
  idempotency_key text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (dataset_id, version),
  UNIQUE (dataset_id, idempotency_key)
);

CREATE TABLE removed_records (
  dataset_id bigint NOT NULL,
  version integer NOT NULL,
  seq integer NOT NULL,
  record_id text NOT NULL,
  reason integer NOT NULL,
  detail text NOT NULL,
  duplicate_of text NOT NULL,
  similarity double precision NOT NULL,
  upload_id text NOT NULL,
  source_line bigint NOT NULL,
  excerpt text NOT NULL,
  PRIMARY KEY (dataset_id, version, seq),
  FOREIGN KEY (dataset_id, version) REFERENCES versions (dataset_id, version)
);
