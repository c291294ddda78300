-- Salesforce on real orgs (issue 14): each connected org gets its own webhook secret (sealed
-- with the tenant-bound SecretBox; SkyGeni writes it into the org's SkyGeni_Settings__c), and
-- write-back errors keep their status code so permanent ones are reported, not retried.
ALTER TABLE salesforce_connections ADD COLUMN webhook_secret_sealed TEXT;
ALTER TABLE salesforce_writeback ADD COLUMN error_code TEXT;
