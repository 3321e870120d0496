-- Models, their immutable versions, the edges between versions, and aliases with their history.
CREATE TABLE models (
  name text PRIMARY KEY,
  kind smallint NOT NULL,
  latest_version integer NOT NULL DEFAULT 0,
  create_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE model_versions (
  model text NOT NULL REFERENCES models (name),
  version integer NOT NULL,
  manifest_sha256 text NOT NULL,
  kind smallint NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  -- [{ "path", "sha256", "size" }] sorted by path
  files jsonb NOT NULL,
  total_size_bytes bigint NOT NULL,
  -- architecture, adapter, quantization, merge, training and compatibility facts
  details jsonb NOT NULL,
  description text NOT NULL DEFAULT '',
  labels jsonb NOT NULL DEFAULT '{}',
  idempotency_key text,
  create_time timestamptz NOT NULL DEFAULT now(),
  delete_time timestamptz,
  PRIMARY KEY (model, version),
  -- registering the same bytes under a name twice returns the first version
  UNIQUE (model, manifest_sha256)
);

-- origin -> derived, e.g. base -> adapter; what makes a version "referenced"
CREATE TABLE version_edges (
  from_model text NOT NULL,
  from_version integer NOT NULL,
  to_model text NOT NULL,
  to_version integer NOT NULL,
  relation smallint NOT NULL,
  PRIMARY KEY (from_model, from_version, to_model, to_version, relation),
  FOREIGN KEY (from_model, from_version) REFERENCES model_versions (model, version),
  FOREIGN KEY (to_model, to_version) REFERENCES model_versions (model, version)
);
CREATE INDEX version_edges_to ON version_edges (to_model, to_version);

CREATE TABLE aliases (
  model text NOT NULL REFERENCES models (name),
  alias text NOT NULL,
  version integer NOT NULL,
  PRIMARY KEY (model, alias),
  FOREIGN KEY (model, version) REFERENCES model_versions (model, version)
);

CREATE TABLE alias_history (
  id bigserial PRIMARY KEY,
  model text NOT NULL,
  alias text NOT NULL,
  from_version integer NOT NULL,
  to_version integer NOT NULL,
  actor text NOT NULL,
  reason text NOT NULL DEFAULT '',
  change_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alias_history_by_alias ON alias_history (model, alias, id DESC);
