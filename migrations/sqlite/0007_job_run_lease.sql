-- Load and faults (issue 8): a scheduled run claimed by a replica that then died stayed
-- 'running' forever and was never retaken (its job_runs row blocks every other claim). Runs
-- now carry a lease like outbox rows: the runner extends lease_until while it works, and
-- another replica takes over a 'running' row whose lease has expired (attempts counts the
-- takeovers). Rows running before this migration get an expired lease, so a run orphaned
-- by an earlier crash is picked up once.
ALTER TABLE job_runs ADD COLUMN lease_until TEXT;
ALTER TABLE job_runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
UPDATE job_runs SET lease_until = started_at WHERE status = 'running';
