-- The preferences service's schema: annotators and their tokens, tasks with items and the
-- candidate pairs judged, assignments (leases), judgements with their revisions, direct pairs,
-- idempotency records and an outbox of events published after commit.

CREATE TABLE annotators (
  id           text PRIMARY KEY,
  display_name text NOT NULL,
  email        text UNIQUE,
  max_role     smallint NOT NULL,
  create_time  timestamptz NOT NULL DEFAULT now()
);

-- Only the sha256 of a secret is kept: a leaked table does not leak working tokens.
CREATE TABLE annotator_tokens (
  id           text PRIMARY KEY,
  annotator_id text NOT NULL REFERENCES annotators (id),
  secret_sha256 bytea NOT NULL UNIQUE,
  role         smallint NOT NULL,
  description  text NOT NULL DEFAULT '',
  issue_time   timestamptz NOT NULL DEFAULT now(),
  expire_time  timestamptz,
  revoke_time  timestamptz,
  revoke_reason text
);

CREATE TABLE tasks (
  id                  text PRIMARY KEY,
  display_name        text NOT NULL,
  instructions        text NOT NULL DEFAULT '',
  annotators_per_item integer NOT NULL,
  lease_ms            bigint NOT NULL,
  allow_tie           boolean NOT NULL,
  require_rationale   boolean NOT NULL,
  create_time         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE items (
  task_id     text NOT NULL REFERENCES tasks (id),
  id          text NOT NULL,
  position    bigserial,
  prompt      jsonb NOT NULL,
  candidates  jsonb NOT NULL,
  gold_preferred text,          -- NULL: not gold; '' : gold answer is a tie
  gold_explanation text,
  metadata    jsonb NOT NULL DEFAULT '{}',
  content_sha256 bytea NOT NULL,
  prompt_sha256  bytea NOT NULL,
  duplicate_of text,            -- flagged at creation: same prompt and candidates as this item
  eval_overlap boolean NOT NULL DEFAULT false, -- flagged at creation: prompt in an evaluation set
  closed_time timestamptz,      -- set by a snapshot; judgements can no longer be revised
  PRIMARY KEY (task_id, id)
);
CREATE INDEX items_content ON items (task_id, content_sha256);

-- One row per unordered pair of candidates of an item: the unit that k annotators judge.
-- first_id < second_id, so verdicts are compared independently of the on-screen order.
CREATE TABLE candidate_pairs (
  id          bigserial PRIMARY KEY,
  task_id     text NOT NULL,
  item_id     text NOT NULL,
  first_id    text NOT NULL,
  second_id   text NOT NULL,
  held_count  integer NOT NULL DEFAULT 0, -- live leases + submitted judgements
  FOREIGN KEY (task_id, item_id) REFERENCES items (task_id, id)
);
CREATE INDEX candidate_pairs_open ON candidate_pairs (task_id, id) ;

CREATE TABLE assignments (
  id            text PRIMARY KEY,
  task_id       text NOT NULL,
  item_id       text NOT NULL,
  pair_id       bigint NOT NULL REFERENCES candidate_pairs (id),
  annotator_id  text NOT NULL REFERENCES annotators (id),
  candidate_a_id text NOT NULL, -- the order shown, randomized per assignment and recorded
  candidate_b_id text NOT NULL,
  state         smallint NOT NULL,
  create_time   timestamptz NOT NULL DEFAULT now(),
  lease_expire_time timestamptz NOT NULL
);
-- An annotator judges a candidate pair at most once (expired leases excepted).
CREATE UNIQUE INDEX assignments_once ON assignments (pair_id, annotator_id) WHERE state <> 3;
CREATE INDEX assignments_by_annotator ON assignments (task_id, annotator_id, state);

CREATE TABLE judgements (
  id            text PRIMARY KEY,
  assignment_id text NOT NULL UNIQUE REFERENCES assignments (id),
  task_id       text NOT NULL,
  item_id       text NOT NULL,
  pair_id       bigint NOT NULL,
  annotator_id  text NOT NULL,
  candidate_a_id text NOT NULL,
  candidate_b_id text NOT NULL,
  choice        smallint NOT NULL,
  winner        text NOT NULL, -- the preferred candidate's id, '' for a tie
  rationale     text NOT NULL DEFAULT '',
  time_spent_ms bigint NOT NULL DEFAULT 0,
  revision      integer NOT NULL,
  submit_time   timestamptz NOT NULL,
  revised_by    text NOT NULL
);
CREATE INDEX judgements_task ON judgements (task_id);

-- Every revision, for audit: a revised verdict replaces the current one but is never lost.
CREATE TABLE judgement_revisions (
  judgement_id text NOT NULL REFERENCES judgements (id),
  revision     integer NOT NULL,
  choice       smallint NOT NULL,
  rationale    text NOT NULL,
  submit_time  timestamptz NOT NULL,
  revised_by   text NOT NULL,
  PRIMARY KEY (judgement_id, revision)
);

CREATE TABLE pairs (
  id          text PRIMARY KEY,
  task_id     text,
  prompt      jsonb NOT NULL,
  chosen      jsonb NOT NULL,
  rejected    jsonb NOT NULL,
  source_kind smallint NOT NULL,
  source_detail text NOT NULL DEFAULT '',
  metadata    jsonb NOT NULL DEFAULT '{}',
  submitted_by text NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now()
);

-- Answers already given, keyed by caller and client key: a retry returns the stored answer.
CREATE TABLE idempotency_records (
  caller       text NOT NULL,
  rpc          text NOT NULL,
  key          text NOT NULL,
  request_sha256 bytea NOT NULL,
  response     bytea NOT NULL,
  create_time  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (caller, rpc, key)
);

-- Prompts of registered evaluation sets (sha256 of the normalized prompt), for the overlap flag.
CREATE TABLE eval_prompts (
  prompt_sha256 bytea PRIMARY KEY,
  eval_set      text NOT NULL
);

-- Events written in the same transaction as the fact, published after commit by the relay.
CREATE TABLE outbox (
  seq          bigserial PRIMARY KEY,
  event_id     text NOT NULL UNIQUE,
  event        text NOT NULL,
  payload      bytea NOT NULL,
  publish_time timestamptz
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE publish_time IS NULL;
