-- Slack account linking (issue 13): `/deal-risk link you@company.com` from a Slack user whose
-- Slack-reported email differs must be confirmed with a one-time code mailed to that address.
-- Only the SHA-256 of the code is stored; a row is usable once, until `expires_at`, and dies
-- after a few wrong guesses.
CREATE TABLE slack_link_requests (
    tenant_id     TEXT NOT NULL REFERENCES tenants(tenant_id),
    request_id    TEXT NOT NULL,
    slack_user_id TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    code_hash     TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    used_at       TEXT,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, request_id)
);
CREATE INDEX slack_link_requests_user ON slack_link_requests (tenant_id, slack_user_id);
ALTER TABLE slack_link_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE slack_link_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON slack_link_requests
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON slack_link_requests TO skygeni_app;
