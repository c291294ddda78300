-- Issue 17: users who left a mailing list (daily digest, weekly summary) through the
-- one-click unsubscribe link (RFC 8058). Digests and summaries skip the email channel for
-- them; Slack delivery and critical alerts are unaffected. Same conventions as 0001.
CREATE TABLE email_unsubscribes (
    tenant_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    list            TEXT NOT NULL CHECK (list IN ('digest', 'weekly_summary')),
    unsubscribed_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, list)
);
ALTER TABLE email_unsubscribes ENABLE ROW LEVEL SECURITY;
ALTER TABLE email_unsubscribes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON email_unsubscribes
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON email_unsubscribes TO skygeni_app;
