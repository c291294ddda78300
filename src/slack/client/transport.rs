//! How each Slack Web API method is sent, in one table. Slack reads JSON bodies only for write
//! methods; read methods (`users.info`, `users.lookupByEmail`, `conversations.history`) take
//! their arguments from the query string or a form body and silently ignore a JSON body (the
//! official SDKs call them with GET + query), and `oauth.v2.access` is a form POST with the
//! client credentials. JSON bodies carry `charset=utf-8` (without it Slack adds a
//! `missing_charset` warning and may misread non-ASCII text).
use serde_json::Value;

/// The HTTP shape of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// POST `application/json; charset=utf-8`, token in `Authorization: Bearer`.
    Json,
    /// POST `application/x-www-form-urlencoded`; structured arguments as JSON text.
    Form,
    /// GET with the arguments in the query string.
    Query,
}

/// Every method the bot calls → its transport (docs.slack.dev method pages; shared/reference/
/// slack.md §6). A method missing here is a bug: [`transport`] falls back to form, which Slack
/// reads for every method.
pub const METHODS: &[(&str, Transport)] = &[
    ("chat.postMessage", Transport::Json),
    ("chat.update", Transport::Json),
    ("chat.postEphemeral", Transport::Json),
    ("conversations.open", Transport::Json),
    ("views.open", Transport::Json),
    ("views.update", Transport::Json),
    ("views.publish", Transport::Json),
    ("auth.test", Transport::Form),
    ("users.info", Transport::Query),
    ("users.lookupByEmail", Transport::Query),
    ("conversations.history", Transport::Query),
    ("oauth.v2.access", Transport::Form),
];

/// The transport of `method` (form when unknown: every Slack method accepts it).
pub fn transport(method: &str) -> Transport {
    METHODS
        .iter()
        .find(|(m, _)| *m == method)
        .map_or(Transport::Form, |(_, t)| *t)
}

/// Call arguments as name/value pairs for a form body or query string: strings as they are,
/// numbers and booleans as their text, objects and arrays as JSON text; nulls are left out.
pub fn pairs(args: &Value) -> Vec<(String, String)> {
    let Some(obj) = args.as_object() else {
        return Vec::new();
    };
    obj.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_go_as_json_reads_as_query_and_oauth_as_form() {
        for m in [
            "chat.postMessage",
            "chat.update",
            "chat.postEphemeral",
            "views.open",
            "views.update",
            "views.publish",
        ] {
            assert_eq!(transport(m), Transport::Json, "{m}");
        }
        for m in ["users.info", "users.lookupByEmail", "conversations.history"] {
            assert_eq!(transport(m), Transport::Query, "{m}");
        }
        assert_eq!(transport("oauth.v2.access"), Transport::Form);
        assert_eq!(transport("some.future.method"), Transport::Form);
        let names: std::collections::HashSet<_> = METHODS.iter().map(|(m, _)| m).collect();
        assert_eq!(names.len(), METHODS.len(), "one row per method");
    }

    #[test]
    fn arguments_flatten_to_text_pairs() {
        let p = pairs(&json!({"channel": "D1", "limit": 200, "inclusive": true,
                              "cursor": null, "metadata": {"a": 1}}));
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("channel"), Some("D1"));
        assert_eq!(get("limit"), Some("200"));
        assert_eq!(get("inclusive"), Some("true"));
        assert_eq!(get("cursor"), None);
        assert_eq!(get("metadata"), Some(r#"{"a":1}"#));
    }
}
