//! The `/deal-risk` slash command's text → a typed command. Pure: the route answers Slack with
//! whatever this returns, so every input (empty, Unicode, hostile, huge) must map to a variant
//! or a usage message, never a panic.
use slack_morphism::SlackUserId;

/// Longer input is cut before parsing: no deal name is that long, and it bounds the work a
/// single request can cause.
pub const MAX_TEXT_CHARS: usize = 500;
pub const TOP_DEFAULT: usize = 5;
/// 25 rows keep a top-N answer well inside Slack's 50 blocks per message.
pub const TOP_MAX: usize = 25;

pub const USAGE: &str = "Usage: `/deal-risk <deal or company>` · `/deal-risk top [1-25]` · `/deal-risk pipeline` · \
`/deal-risk rep @someone` · `/deal-risk share <deal>` · `/deal-risk link you@company.com` · `/deal-risk settings` · `/deal-risk help`";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DealRiskCommand {
    /// Find a deal by id, company or name and show its card (or a pick list).
    Lookup(String),
    /// The N riskiest open deals.
    Top(usize),
    Pipeline,
    /// One rep's portfolio; the Slack user is mapped to a CRM rep by the caller.
    Rep(SlackUserId),
    Settings,
    /// Link the caller's Slack user to their CRM email.
    Link(String),
    /// `link confirm CODE`: the one-time code mailed to the email being linked.
    ConfirmLink(String),
    /// Post a deal card to the channel for everyone (`in_channel`), not just the caller.
    Share(String),
    Help,
    /// Text with nothing to look up (only punctuation); the original text, for the reply.
    Unknown(String),
}

/// Why the text could not become a command; `Display` is the message shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("`top` takes a number from 1 to {TOP_MAX}, e.g. `/deal-risk top 10` (got `{0}`).")]
    BadTop(String),
    #[error("`rep` needs a person: `/deal-risk rep @someone`.")]
    BadRep,
    #[error("`link` needs your CRM email: `/deal-risk link you@company.com` (got `{0}`).")]
    BadEmail(String),
    #[error("`{0}` needs a deal: `/deal-risk {0} <deal or company>`.")]
    MissingDeal(&'static str),
    #[error("`link confirm` needs the code from the email: `/deal-risk link confirm ABCD-EFGH`.")]
    BadCode,
    #[error(
        "Your text contains invisible control characters (for example a NUL byte), so I can't search for it. Please retype it."
    )]
    ControlCharacters,
}

pub fn parse(text: &str) -> Result<DealRiskCommand, CommandError> {
    let capped: String = text.chars().take(MAX_TEXT_CHARS).collect();
    // Tabs and newlines are whitespace; NUL and other controls cannot be part of a deal name
    // (and PostgreSQL refuses NUL in text), so they get a clear answer rather than an error.
    if capped.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(CommandError::ControlCharacters);
    }
    let text = unescape(capped.trim());
    let (head, rest) = match text.split_once(char::is_whitespace) {
        Some((h, r)) => (h, r.trim()),
        None => (text.as_str(), ""),
    };
    let cmd = match head.to_lowercase().as_str() {
        "" | "help" | "?" | "-h" | "--help" => DealRiskCommand::Help,
        "top" => DealRiskCommand::Top(parse_top(rest)?),
        "pipeline" if rest.is_empty() => DealRiskCommand::Pipeline,
        "settings" if rest.is_empty() => DealRiskCommand::Settings,
        "rep" => DealRiskCommand::Rep(parse_user(rest).ok_or(CommandError::BadRep)?),
        "link" => match rest.split_once(char::is_whitespace) {
            Some((c, code)) if c.eq_ignore_ascii_case("confirm") => {
                DealRiskCommand::ConfirmLink(parse_code(code).ok_or(CommandError::BadCode)?)
            }
            _ if rest.eq_ignore_ascii_case("confirm") => return Err(CommandError::BadCode),
            _ => DealRiskCommand::Link(parse_email(rest)?),
        },
        "share" => DealRiskCommand::Share(query(rest).ok_or(CommandError::MissingDeal("share"))?),
        // An explicit prefix lets a user look up a company literally called "Pipeline".
        "deal" | "lookup" => {
            DealRiskCommand::Lookup(query(rest).ok_or(CommandError::MissingDeal("deal"))?)
        }
        _ => match query(&text) {
            Some(q) => DealRiskCommand::Lookup(q),
            None => DealRiskCommand::Unknown(text.clone()),
        },
    };
    Ok(cmd)
}

/// Slack escapes `&`, `<` and `>` in command text; undo it so `AT&amp;T` matches `AT&T`.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Whitespace collapsed; `None` when nothing searchable (no letter or digit) remains.
fn query(s: &str) -> Option<String> {
    let q = s.split_whitespace().collect::<Vec<_>>().join(" ");
    q.chars().any(char::is_alphanumeric).then_some(q)
}

fn parse_top(arg: &str) -> Result<usize, CommandError> {
    if arg.is_empty() {
        return Ok(TOP_DEFAULT);
    }
    match arg.parse::<usize>() {
        Ok(n) if (1..=TOP_MAX).contains(&n) => Ok(n),
        _ => Err(CommandError::BadTop(arg.chars().take(40).collect())),
    }
}

/// A confirmation code as mailed (`ABCD-EFGH`): letters and digits, dashes and spaces ignored,
/// upper-cased.
fn parse_code(arg: &str) -> Option<String> {
    let code: String = arg
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_ascii_uppercase();
    (code.len() >= 6 && code.len() <= 32 && code.chars().all(|c| c.is_ascii_alphanumeric()))
        .then_some(code)
}

/// `<@U123|name>` / `<@U123>` (Slack's escaped mention) or a bare `U123` id.
fn parse_user(arg: &str) -> Option<SlackUserId> {
    let inner = arg
        .strip_prefix("<@")
        .and_then(|s| s.strip_suffix('>'))
        .map(|s| s.split('|').next().unwrap_or(""))
        .unwrap_or(arg);
    let ok = inner.len() >= 3
        && inner.len() <= 32
        && (inner.starts_with('U') || inner.starts_with('W'))
        && inner
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    ok.then(|| SlackUserId(inner.to_string()))
}

/// Accepts `a@b.co` or Slack's escaped `<mailto:a@b.co|a@b.co>`; lower-cased, since CRM
/// owner emails are compared case-insensitively.
fn parse_email(arg: &str) -> Result<String, CommandError> {
    let raw = arg
        .strip_prefix("<mailto:")
        .and_then(|s| s.strip_suffix('>'))
        .map(|s| s.split('|').next().unwrap_or(""))
        .unwrap_or(arg);
    let bad = || CommandError::BadEmail(arg.chars().take(60).collect());
    let (local, domain) = raw.split_once('@').ok_or_else(bad)?;
    let valid = !local.is_empty()
        && raw.len() <= 254
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && raw
            .chars()
            .all(|c| c.is_ascii_graphic() && !"<>()[],;:\\\"".contains(c));
    if valid {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
