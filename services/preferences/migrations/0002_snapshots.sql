-- Snapshots of tasks into dataset versions, and the provenance of every pair written: the
-- dataset record format has no metadata, so agreement and annotators behind each pair are kept
-- here, addressable by (dataset, version, line).

CREATE TABLE snapshots (
  id            text PRIMARY KEY,
  task_id       text NOT NULL REFERENCES tasks (id),
  dataset       text NOT NULL,
  version       integer NOT NULL,
  manifest_sha256 text NOT NULL,
  upload_id     text NOT NULL,
  pair_count    integer NOT NULL,
  excluded_count integer NOT NULL,
  min_agreement double precision NOT NULL,
  create_time   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (dataset, version)
);

CREATE TABLE snapshot_pairs (
  snapshot_id   text NOT NULL REFERENCES snapshots (id),
  line          integer NOT NULL, -- 1-based line of the upload, as the datasets service counts
  item_id       text,
  pair_id       bigint,
  direct_pair_id text,
  chosen_id     text,
  rejected_id   text,
  annotators    text[] NOT NULL,
  votes         integer NOT NULL,
  judgements    integer NOT NULL,
  agreement     double precision NOT NULL,
  gold          boolean NOT NULL,
  PRIMARY KEY (snapshot_id, line)
);

-- Lease expiry scans a task's pending assignments on every GetNextAssignment.
CREATE INDEX assignments_pending ON assignments (task_id, lease_expire_time) WHERE state = 1;
