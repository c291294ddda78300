-- Issue 16: real CRM exports and per-tenant risk settings (see the SQLite twin for the columns).
CREATE TABLE import_mappings (
    tenant_id   TEXT NOT NULL REFERENCES tenants(tenant_id),
    header_key  TEXT NOT NULL,
    mapping     TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, header_key)
);

CREATE TABLE risk_settings (
    tenant_id      TEXT PRIMARY KEY REFERENCES tenants(tenant_id),
    low_max        BIGINT NOT NULL,
    medium_max     BIGINT NOT NULL,
    high_max       BIGINT NOT NULL,
    alerts_per_day BIGINT NOT NULL,
    updated_at     TEXT NOT NULL,
    CHECK (0 <= low_max AND low_max < medium_max AND medium_max < high_max AND high_max < 100),
    CHECK (alerts_per_day >= 1)
);

DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['import_mappings','risk_settings']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = current_setting('app.current_tenant', true))
            WITH CHECK (tenant_id = current_setting('app.current_tenant', true))$p$, t);
    END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON import_mappings, risk_settings TO skygeni_app;
