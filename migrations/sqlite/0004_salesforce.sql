-- Salesforce two-way sync (issue 5): connected orgs (tokens sealed with SecretBox), OAuth
-- state (single use), which org belongs to which tenant (webhook routing), what was written
-- back, the Tasks created, and webhook notifications already handled.
CREATE TABLE salesforce_connections (
    tenant_id            TEXT NOT NULL REFERENCES tenants(tenant_id),
    org_id               TEXT NOT NULL,
    auth_flow            TEXT NOT NULL CHECK (auth_flow IN ('web_server', 'jwt_bearer')),
    instance_url_sealed  TEXT NOT NULL,
    refresh_token_sealed TEXT,
    jwt_username         TEXT,
    field_mapping        TEXT NOT NULL DEFAULT '{}',
    connected_at         TEXT NOT NULL,
    PRIMARY KEY (tenant_id)
);

CREATE TABLE salesforce_oauth_states (
    tenant_id            TEXT NOT NULL,
    state                TEXT NOT NULL,
    pkce_verifier_sealed TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    used_at              TEXT,
    PRIMARY KEY (tenant_id, state)
);

-- Routing only (like `tenants`): the webhook names its org before we know the tenant.
CREATE TABLE salesforce_orgs (
    org_id    TEXT NOT NULL PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id)
);

CREATE TABLE salesforce_writeback (
    tenant_id    TEXT NOT NULL,
    deal_id      TEXT NOT NULL,
    written_hash TEXT,
    written_at   TEXT,
    status       TEXT NOT NULL,
    error        TEXT,
    attempts     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, deal_id)
);

CREATE TABLE salesforce_tasks (
    tenant_id  TEXT NOT NULL,
    task_key   TEXT NOT NULL,
    deal_id    TEXT NOT NULL,
    sf_task_id TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, task_key)
);

CREATE TABLE salesforce_notifications (
    tenant_id       TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    record_count    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, notification_id)
);

-- REQUEST_LIMIT_EXCEEDED defers a tenant's sync (15 minutes).
ALTER TABLE sync_state ADD COLUMN deferred_until TEXT;
