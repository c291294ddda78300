-- Alerts delivery (issue 7): the outbox gets a claim token and a lease so a worker that dies
-- between claiming a row and sending it gives the row back when the lease expires, and an
-- alert_id linking the delivery rows of one alert (Slack failing -> email fallback).
ALTER TABLE outbox ADD COLUMN claim_token TEXT;
ALTER TABLE outbox ADD COLUMN lease_until TEXT;
ALTER TABLE outbox ADD COLUMN alert_id TEXT;
-- Workers claim per tenant (row-level security scopes every statement to one tenant).
CREATE INDEX outbox_claim ON outbox (tenant_id, status, next_attempt_at);
-- The 24 h throttle looks up the newest critical alert per deal and recipient.
CREATE INDEX alerts_recent ON alerts (tenant_id, deal_id, user_id, created_at);
-- `skygeni jobs` lists the newest runs first.
CREATE INDEX job_runs_recent ON job_runs (tenant_id, scheduled_for);
