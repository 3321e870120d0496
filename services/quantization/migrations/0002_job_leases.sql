-- Leases, so several replicas can share one database: a RUNNING job belongs to the replica named
-- in lease_owner until lease_expires_at; the owner renews it while it works, and a replica that
-- finds it expired (its owner died) takes the job over.
ALTER TABLE jobs ADD COLUMN lease_owner text;
ALTER TABLE jobs ADD COLUMN lease_expires_at timestamptz;
CREATE INDEX jobs_claimable ON jobs (state, lease_expires_at);
