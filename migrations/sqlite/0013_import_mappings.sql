-- Issue 16: real CRM exports and per-tenant risk settings.
-- The column mapping a tenant gave for an export, keyed by a hash of the export's header names,
-- so the next import of the same export needs no --map flags. mapping is JSON
-- ({"seed_column": ["Header", ...]}).
CREATE TABLE import_mappings (
    tenant_id   TEXT NOT NULL REFERENCES tenants(tenant_id),
    header_key  TEXT NOT NULL,
    mapping     TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, header_key)
);

-- A tenant's own risk-band edges (score ≤ low_max is low, ≤ medium_max medium, ≤ high_max high,
-- above critical) and the daily alert budget per recipient. No row: the design's 25/50/75 and 5.
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
