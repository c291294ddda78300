-- Slack: workspace → tenant routing, each workspace's sealed bot token, single-use OAuth states.

-- Routing table read before the tenant is known (a Slack request carries only its team id),
-- like `tenants`: no secrets in it, no RLS.
CREATE TABLE slack_teams (
    team_id    TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(tenant_id),
    active     INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL
);

-- One row per installed workspace; tokens sealed with SKYGENI_ENCRYPTION_KEY (tenant as AAD).
CREATE TABLE slack_installs (
    tenant_id     TEXT NOT NULL,
    team_id       TEXT NOT NULL,
    team_name     TEXT,
    bot_user_id   TEXT,
    scope         TEXT,
    bot_token     TEXT NOT NULL,
    refresh_token TEXT,
    expires_at    TEXT,
    installed_by  TEXT,
    active        INTEGER NOT NULL DEFAULT 1,
    installed_at  TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, team_id)
);
ALTER TABLE slack_installs ENABLE ROW LEVEL SECURITY;
ALTER TABLE slack_installs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON slack_installs
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

-- OAuth `state` values (SHA-256 of the value sent to Slack), deleted when used. Read by the
-- callback before the tenant is known, so no RLS; holds no secret (only a hash).
CREATE TABLE slack_oauth_states (
    state_hash TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

GRANT SELECT, INSERT, UPDATE ON slack_teams TO skygeni_app;
GRANT SELECT, INSERT, DELETE ON slack_oauth_states TO skygeni_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON slack_installs TO skygeni_app;
