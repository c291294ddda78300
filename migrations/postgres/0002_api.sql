-- REST API v1: the high-risk listing filters on the current category, and /readyz (running
-- as the non-owner app role) checks that every migration was applied.
CREATE INDEX deals_current_category ON deals (tenant_id, current_risk_category, current_risk_score);
GRANT SELECT ON _sqlx_migrations TO skygeni_app;
