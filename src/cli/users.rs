//! `skygeni users add|import|list|unlink`: SkyGeni users without Salesforce (email, name, role,
//! manager, time zone), so a team that imports CSV has people the Slack bot can recognise; and
//! the admin-only unlink that frees a user's Slack link (`/deal-risk link` never re-points one).
use super::JsonFlag;
use crate::domain::TenantId;
use crate::store::{AuditEntry, NewUser, Store};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add or update one user (matched by email).
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// rep, manager or admin.
        #[arg(long, default_value = "rep")]
        role: String,
        /// The manager's email or user id (must exist).
        #[arg(long)]
        manager: Option<String>,
        /// IANA time zone for digests and quiet hours, e.g. Europe/Berlin.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// User id (defaults to the email, lower-cased); CRM owner ids match deals' sales_rep_id.
        #[arg(long)]
        id: Option<String>,
    },
    /// Add or update users from a CSV with a header: email,name,role,manager,time_zone[,user_id].
    /// All rows are checked first; any bad row and nothing is written.
    Import {
        #[arg(long, value_parser = super::existing_file)]
        csv: PathBuf,
    },
    /// List users with their role, manager, time zone and Slack link.
    List {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Remove a user's Slack link (by email or user id), so they can link again.
    Unlink { user: String },
}

/// One validated user to write.
#[derive(Debug, Clone, PartialEq)]
struct UserSpec {
    user_id: String,
    email: String,
    name: Option<String>,
    role: String,
    manager: Option<String>,
    time_zone: String,
}

fn spec(
    email: &str,
    name: Option<&str>,
    role: &str,
    manager: Option<&str>,
    time_zone: &str,
    id: Option<&str>,
) -> Result<UserSpec, String> {
    let email = email.trim().to_ascii_lowercase();
    let ok_email = email.split_once('@').is_some_and(|(l, d)| {
        !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
    }) && email.len() <= 254
        && email
            .chars()
            .all(|c| c.is_ascii_graphic() && !"<>()[],;:\\\"".contains(c));
    if !ok_email {
        return Err(format!("{email:?} is not an email address"));
    }
    let role = role.trim().to_ascii_lowercase();
    if !["rep", "manager", "admin"].contains(&role.as_str()) {
        return Err(format!("role {role:?} must be rep, manager or admin"));
    }
    let time_zone = if time_zone.trim().is_empty() {
        "UTC".to_string()
    } else {
        time_zone.trim().to_string()
    };
    if time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(format!(
            "unknown time zone {time_zone:?}: use an IANA name such as Europe/Berlin"
        ));
    }
    let clean = |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    if [name, manager, id]
        .iter()
        .flatten()
        .any(|s| s.chars().any(char::is_control))
    {
        return Err("name, manager and id may not contain control characters".into());
    }
    Ok(UserSpec {
        user_id: clean(id).unwrap_or_else(|| email.clone()),
        email,
        name: clean(name),
        role,
        manager: clean(manager).map(|m| m.to_ascii_lowercase()),
        time_zone,
    })
}

/// Reads and checks a users CSV; `Err` lists every bad row (1-based line numbers).
fn read_csv(path: &PathBuf) -> anyhow::Result<Result<Vec<UserSpec>, Vec<String>>> {
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)?;
    let headers: Vec<String> = r
        .headers()?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let col = |n: &str| headers.iter().position(|h| h == n);
    let Some(email_col) = col("email") else {
        anyhow::bail!("{}: the header needs an `email` column", path.display());
    };
    let (name, role, manager, tz, id) = (
        col("name"),
        col("role"),
        col("manager"),
        col("time_zone"),
        col("user_id"),
    );
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).filter(|s| !s.is_empty());
        match spec(
            get(Some(email_col)).unwrap_or_default(),
            get(name),
            get(role).unwrap_or("rep"),
            get(manager),
            get(tz).unwrap_or("UTC"),
            get(id),
        ) {
            Ok(s) => out.push(s),
            Err(e) => errors.push(format!("line {line}: {e}")),
        }
    }
    Ok(if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    })
}

/// Writes users: first without managers (a manager may come later in the file), then the
/// manager links, each resolved by email or id among existing and new users.
async fn write(store: &Store, tenant: &TenantId, specs: &[UserSpec]) -> anyhow::Result<()> {
    let existing = store.list_users(tenant).await?;
    let id_of = |s: &UserSpec| {
        existing
            .iter()
            .find(|u| u.user.email.as_deref() == Some(s.email.as_str()))
            .map_or_else(|| s.user_id.clone(), |u| u.user.user_id.clone())
    };
    let ids: Vec<String> = specs.iter().map(id_of).collect();
    let manager_id = |m: &str| -> Option<String> {
        specs
            .iter()
            .zip(&ids)
            .find(|(s, id)| s.email == m || id.as_str() == m)
            .map(|(_, id)| id.clone())
            .or_else(|| {
                existing
                    .iter()
                    .find(|u| u.user.email.as_deref() == Some(m) || u.user.user_id == m)
                    .map(|u| u.user.user_id.clone())
            })
    };
    let mut managers = Vec::new();
    for s in specs {
        match s.manager.as_deref() {
            Some(m) => match manager_id(m) {
                Some(id) => managers.push(Some(id)),
                None => anyhow::bail!("manager {m:?} of {} is not a known user", s.email),
            },
            None => managers.push(None),
        }
    }
    for ((s, id), mgr) in specs.iter().zip(&ids).zip(&managers) {
        store
            .upsert_user(
                tenant,
                &NewUser {
                    user_id: id,
                    email: Some(&s.email),
                    name: s.name.as_deref(),
                    role: &s.role,
                    manager_id: mgr.as_deref(),
                },
            )
            .await?;
        store.set_user_time_zone(tenant, id, &s.time_zone).await?;
    }
    Ok(())
}

async fn audit(
    store: &Store,
    tenant: &TenantId,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> anyhow::Result<()> {
    store
        .record_audit(
            tenant,
            AuditEntry {
                actor: "cli",
                action,
                target: Some(target),
                request_id: None,
                detail: Some(detail),
            },
        )
        .await?;
    Ok(())
}

pub async fn run(store: &Store, tenant: &TenantId, cmd: UsersCommand) -> anyhow::Result<i32> {
    match cmd {
        UsersCommand::Add {
            email,
            name,
            role,
            manager,
            time_zone,
            id,
        } => {
            let s = spec(
                &email,
                name.as_deref(),
                &role,
                manager.as_deref(),
                &time_zone,
                id.as_deref(),
            )
            .map_err(anyhow::Error::msg)?;
            write(store, tenant, std::slice::from_ref(&s)).await?;
            audit(
                store,
                tenant,
                "users.add",
                &s.email,
                serde_json::json!({"role": s.role}),
            )
            .await?;
            println!("user {} saved ({}, {})", s.email, s.role, s.time_zone);
            Ok(0)
        }
        UsersCommand::Import { csv } => match read_csv(&csv)? {
            Err(errors) => {
                eprintln!("{} bad row(s); nothing was imported:", errors.len());
                for e in errors {
                    eprintln!("  {e}");
                }
                Ok(1)
            }
            Ok(specs) => {
                write(store, tenant, &specs).await?;
                audit(
                    store,
                    tenant,
                    "users.import",
                    &csv.display().to_string(),
                    serde_json::json!({"users": specs.len()}),
                )
                .await?;
                println!("{} user(s) imported", specs.len());
                Ok(0)
            }
        },
        UsersCommand::List { json } => {
            let users = store.list_users(tenant).await?;
            if json.json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                println!(
                    "{:<28} {:<24} {:<8} {:<20} {:<20} slack",
                    "email", "name", "role", "manager", "time zone"
                );
                for u in users {
                    println!(
                        "{:<28} {:<24} {:<8} {:<20} {:<20} {}",
                        u.user.email.as_deref().unwrap_or("-"),
                        u.user.name.as_deref().unwrap_or("-"),
                        u.user.role,
                        u.user.manager_id.as_deref().unwrap_or("-"),
                        u.user.time_zone,
                        u.slack_user_id.as_deref().unwrap_or("-")
                    );
                }
            }
            Ok(0)
        }
        UsersCommand::Unlink { user } => match store.unlink_slack_user(tenant, &user).await? {
            Some((user_id, slack)) => {
                audit(
                    store,
                    tenant,
                    "slack.unlink",
                    &user_id,
                    serde_json::json!({"slack_user_id": slack}),
                )
                .await?;
                println!("{user_id} unlinked from Slack user {slack}");
                Ok(0)
            }
            None => {
                eprintln!("no linked user {user:?} (by email or user id)");
                Ok(1)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_spec_checks_email_role_and_time_zone() {
        let s = spec(
            " Ana@Example.COM ",
            Some("Ana"),
            "Manager",
            None,
            "Europe/Berlin",
            None,
        )
        .unwrap();
        assert_eq!(
            (s.user_id.as_str(), s.role.as_str()),
            ("ana@example.com", "manager")
        );
        assert!(
            spec("nope", None, "rep", None, "UTC", None)
                .unwrap_err()
                .contains("email")
        );
        assert!(
            spec("a@b.co", None, "boss", None, "UTC", None)
                .unwrap_err()
                .contains("role")
        );
        assert!(
            spec("a@b.co", None, "rep", None, "Mars/Base", None)
                .unwrap_err()
                .contains("time zone")
        );
        assert!(spec("a@b.co", Some("x\0y"), "rep", None, "UTC", None).is_err());
    }
}
