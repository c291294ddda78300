-- Load-and-faults (issue 8): a row whose last attempt may have reached the provider without us
-- recording it (the worker died mid-send and the lease was taken over, or the request timed out)
-- is checked with the provider before it is sent again, so a kill -9 does not send twice.
-- 1 = look the message up (Slack: DM history by message metadata; SendGrid: Email Activity by
-- custom_args) before sending; 0 = the previous attempt's outcome is known.
ALTER TABLE outbox ADD COLUMN verify_before_send INTEGER NOT NULL DEFAULT 0;
