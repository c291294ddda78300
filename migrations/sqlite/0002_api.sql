-- REST API v1: the high-risk listing filters on the current category.
CREATE INDEX deals_current_category ON deals (tenant_id, current_risk_category, current_risk_score);
