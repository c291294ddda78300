-- SkyGeni schema, SQLite flavour. Never edit an applied migration: add a new file.
-- Conventions shared with migrations/postgres: tenant_id first in every key; dates as ISO
-- 'YYYY-MM-DD' TEXT; timestamps as RFC 3339 UTC TEXT with microseconds (sortable as text);
-- JSON documents as TEXT; booleans as integers 0/1 (sqlx's Any driver cannot decode SQLite BOOLEAN).

CREATE TABLE tenants (
    tenant_id   TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    time_zone   TEXT NOT NULL DEFAULT 'UTC',
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    tenant_id          TEXT NOT NULL REFERENCES tenants(tenant_id),
    user_id            TEXT NOT NULL,
    email              TEXT,
    name               TEXT,
    role               TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'rep')),
    slack_user_id      TEXT,
    salesforce_user_id TEXT,
    manager_id         TEXT,
    time_zone          TEXT NOT NULL DEFAULT 'UTC',
    created_at         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE UNIQUE INDEX users_email ON users (tenant_id, email);
CREATE INDEX users_slack ON users (tenant_id, slack_user_id);

CREATE TABLE deals (
    tenant_id               TEXT NOT NULL REFERENCES tenants(tenant_id),
    deal_id                 TEXT NOT NULL,
    created_date            TEXT NOT NULL,
    closed_date             TEXT,
    sales_rep_id            TEXT NOT NULL,
    industry                TEXT NOT NULL,
    region                  TEXT NOT NULL,
    product_type            TEXT NOT NULL,
    lead_source             TEXT NOT NULL,
    deal_stage              TEXT NOT NULL,
    amount                  REAL NOT NULL,
    sales_cycle_days        INTEGER,
    outcome                 TEXT CHECK (outcome IN ('Won', 'Lost')),
    company                 TEXT,
    deal_name               TEXT,
    owner_email             TEXT,
    last_activity_date      TEXT,
    stage_entered_date      TEXT,
    close_date_pushes       INTEGER,
    amount_cut_pct          REAL,
    row_hash                TEXT NOT NULL,
    current_risk_score      INTEGER,
    current_risk_category   TEXT,
    current_win_probability REAL,
    current_model_version   TEXT,
    scored_at               TEXT,
    imported_at             TEXT NOT NULL,
    updated_at              TEXT NOT NULL,
    PRIMARY KEY (tenant_id, deal_id)
);
CREATE INDEX deals_open ON deals (tenant_id, outcome, current_risk_score);
CREATE INDEX deals_rep ON deals (tenant_id, sales_rep_id);

CREATE TABLE risk_scores (
    tenant_id       TEXT NOT NULL,
    deal_id         TEXT NOT NULL,
    scored_at       TEXT NOT NULL,
    risk_score      INTEGER NOT NULL,
    risk_category   TEXT NOT NULL,
    win_probability REAL NOT NULL,
    confidence      REAL NOT NULL,
    model_version   TEXT NOT NULL,
    degraded        INTEGER NOT NULL DEFAULT 0,
    factors         TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (tenant_id, deal_id, scored_at)
);
CREATE INDEX risk_scores_time ON risk_scores (tenant_id, scored_at);

-- tenant_id '_global' holds the global model shared by all tenants.
CREATE TABLE models (
    tenant_id     TEXT NOT NULL,
    version       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    training_from TEXT,
    training_to   TEXT,
    metrics       TEXT NOT NULL DEFAULT '{}',
    artifact      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, version)
);

CREATE TABLE model_aliases (
    tenant_id  TEXT NOT NULL,
    alias      TEXT NOT NULL CHECK (alias IN ('production', 'staging')),
    version    TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, alias)
);

-- Every promotion, newest last: rollback walks back through it.
CREATE TABLE model_promotions (
    tenant_id   TEXT NOT NULL,
    promoted_at TEXT NOT NULL,
    alias       TEXT NOT NULL,
    version     TEXT NOT NULL,
    reason      TEXT,
    PRIMARY KEY (tenant_id, promoted_at, alias)
);

CREATE TABLE alert_settings (
    tenant_id        TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    critical_enabled INTEGER NOT NULL DEFAULT 1,
    channels         TEXT NOT NULL DEFAULT '["slack","email"]',
    threshold        INTEGER NOT NULL DEFAULT 75,
    digest_time      TEXT NOT NULL DEFAULT '08:00',
    time_zone        TEXT NOT NULL DEFAULT 'UTC',
    quiet_start      TEXT NOT NULL DEFAULT '20:00',
    quiet_end        TEXT NOT NULL DEFAULT '08:00',
    max_deals        INTEGER NOT NULL DEFAULT 10,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE alerts (
    tenant_id  TEXT NOT NULL,
    alert_id   TEXT NOT NULL,
    deal_id    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    risk_score INTEGER NOT NULL,
    dedupe_key TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, alert_id)
);
CREATE UNIQUE INDEX alerts_dedupe ON alerts (tenant_id, dedupe_key);

CREATE TABLE snoozes (
    tenant_id  TEXT NOT NULL,
    deal_id    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    until      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, deal_id)
);

CREATE TABLE feedback (
    tenant_id   TEXT NOT NULL,
    feedback_id TEXT NOT NULL,
    deal_id     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    reason      TEXT,
    risk_score  INTEGER,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, feedback_id)
);
CREATE INDEX feedback_deal ON feedback (tenant_id, deal_id);

CREATE TABLE outbox (
    tenant_id       TEXT NOT NULL,
    outbox_id       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    channel         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    provider_id     TEXT,
    idempotency_key TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    PRIMARY KEY (tenant_id, outbox_id)
);
CREATE UNIQUE INDEX outbox_idem ON outbox (tenant_id, idempotency_key);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE job_runs (
    tenant_id     TEXT NOT NULL,
    job           TEXT NOT NULL,
    scheduled_for TEXT NOT NULL,
    status        TEXT NOT NULL,
    claimed_by    TEXT,
    started_at    TEXT,
    finished_at   TEXT,
    detail        TEXT,
    PRIMARY KEY (tenant_id, job, scheduled_for)
);

CREATE TABLE sync_state (
    tenant_id       TEXT NOT NULL,
    source          TEXT NOT NULL,
    high_water_mark TEXT,
    last_sync_at    TEXT,
    last_count      INTEGER,
    status          TEXT NOT NULL DEFAULT 'never',
    detail          TEXT,
    PRIMARY KEY (tenant_id, source)
);

CREATE TABLE idempotency_keys (
    tenant_id       TEXT NOT NULL,
    idem_key        TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    response_status INTEGER,
    response_body   TEXT,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, idem_key)
);

CREATE TABLE audit_log (
    tenant_id  TEXT NOT NULL,
    audit_id   TEXT NOT NULL,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT,
    request_id TEXT,
    detail     TEXT,
    PRIMARY KEY (tenant_id, audit_id)
);
CREATE INDEX audit_time ON audit_log (tenant_id, at);

-- The zero-configuration tenant, so `skygeni import` works on a fresh database.
INSERT INTO tenants (tenant_id, name, time_zone, created_at)
VALUES ('default', 'Default tenant', 'UTC', '1970-01-01T00:00:00.000000Z');
