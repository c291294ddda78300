-- Reporting half of issue 7: model lifecycle decisions, daily calibration checks, and the
-- status of recommended actions pushed to Salesforce as Tasks (read by the weekly summary's
-- "closing the loop" section). Same conventions as 0001 (tenant_id first; '_global' = global).

-- Every monthly retrain: the candidate, what it was compared with, and why it was (not) promoted.
CREATE TABLE model_evaluations (
    tenant_id        TEXT NOT NULL,
    evaluated_at     TEXT NOT NULL,
    version          TEXT NOT NULL,
    baseline_version TEXT,
    decision         TEXT NOT NULL CHECK (decision IN ('promoted', 'kept_in_staging')),
    reason           TEXT NOT NULL,
    metrics          TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, evaluated_at, version)
);

-- One row per tenant and day: calibration of the production model on deals closed since the
-- previous check; three breaches in a row roll production back.
CREATE TABLE calibration_checks (
    tenant_id         TEXT NOT NULL,
    checked_on        TEXT NOT NULL,
    checked_at        TEXT NOT NULL,
    model_version     TEXT,
    deals             INTEGER NOT NULL,
    calibration_error REAL,
    breached          INTEGER NOT NULL DEFAULT 0,
    rolled_back_from  TEXT,
    rolled_back_to    TEXT,
    PRIMARY KEY (tenant_id, checked_on)
);

-- Recommended actions as Salesforce Tasks (external id = task_key) and their last known status.
CREATE TABLE action_tasks (
    tenant_id    TEXT NOT NULL,
    task_key     TEXT NOT NULL,
    deal_id      TEXT NOT NULL,
    subject      TEXT NOT NULL,
    priority     TEXT,
    status       TEXT NOT NULL DEFAULT 'Not Started',
    created_at   TEXT NOT NULL,
    completed_at TEXT,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, task_key)
);
CREATE INDEX action_tasks_deal ON action_tasks (tenant_id, deal_id);
