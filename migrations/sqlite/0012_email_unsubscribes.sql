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
