//! `skygeni rotate-key`: re-seal every stored token under the current
//! `SKYGENI_ENCRYPTION_KEY` after a key change (the old key is given as
//! `SKYGENI_ENCRYPTION_KEY_PREVIOUS`; see docs/OPERATIONS.md).
use crate::config::Settings;
use crate::crypto::SecretBox;
use crate::domain::TenantId;
use crate::store::Store;
use secrecy::ExposeSecret;

pub async fn run(settings: &Settings) -> anyhow::Result<i32> {
    let secrets = SecretBox::new(
        settings.encryption_key.as_ref().map(|k| k.expose_secret()),
        settings
            .encryption_key_previous
            .as_ref()
            .map(|k| k.expose_secret()),
    )?;
    let store = Store::connect(&settings.database_url).await?;
    let (mut resealed, mut current, mut failed) = (0u64, 0usize, 0usize);
    for t in store.list_tenants().await? {
        let tenant = TenantId::parse(&t.tenant_id).map_err(anyhow::Error::msg)?;
        let mut updates = Vec::new();
        for v in store.sealed_values(&tenant).await? {
            if !secrets.needs_reseal(&v.sealed) {
                current += 1;
                continue;
            }
            match secrets.open(tenant.as_str(), &v.sealed) {
                Ok(plain) => {
                    let new = secrets.seal(tenant.as_str(), &plain);
                    updates.push((v, new));
                }
                Err(e) => {
                    failed += 1;
                    eprintln!(
                        "{tenant}: {}.{} ({} = {}): {e}",
                        v.table, v.column, v.key_column, v.key
                    );
                }
            }
        }
        resealed += store.reseal_values(&tenant, &updates).await?;
    }
    println!(
        "re-sealed {resealed} value(s) under key {}; {current} already current; {failed} unreadable",
        secrets.key_id()
    );
    Ok(if failed == 0 { 0 } else { 1 })
}
