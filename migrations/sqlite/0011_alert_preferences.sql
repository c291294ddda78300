-- REST API v1 contract (issue 15): the design's POST /v1/alerts/configure body switches the
-- daily digest and quiet hours on and off and sets the digest's lowest risk score.
-- 1 = on (the behaviour before this migration), 0 = off.
ALTER TABLE alert_settings ADD COLUMN digest_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE alert_settings ADD COLUMN digest_min_risk_score INTEGER NOT NULL DEFAULT 51;
ALTER TABLE alert_settings ADD COLUMN quiet_enabled INTEGER NOT NULL DEFAULT 1;
