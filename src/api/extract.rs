//! Extractors whose rejections come back in our error shape: JSON bodies (unknown fields are
//! named in `details.field`) and query strings.
use crate::http_error::ApiError;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// `axum::Json` with our rejections.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    let status = r.status();
    let text = r.body_text();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::Validation {
            status,
            message: "request body is larger than 1 MB".into(),
            details: None,
        };
    }
    // serde's messages look like "Failed to deserialize the JSON body into the target type:
    // unknown field `colour`, expected one of …" or "…: amount: invalid type: …".
    let detail = text
        .split_once("target type: ")
        .map_or(text.as_str(), |(_, d)| d)
        .to_string();
    let field = field_of(&detail);
    let status = match r {
        JsonRejection::JsonDataError(_) => StatusCode::UNPROCESSABLE_ENTITY,
        JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::Validation {
        status,
        message: detail,
        details: field.map(|f| serde_json::json!({ "field": f })),
    }
}

/// The field a serde error is about: "unknown field `x`", "missing field `x`", or a
/// "path.to.x: …" prefix.
pub fn field_of(msg: &str) -> Option<String> {
    for marker in ["unknown field `", "missing field `"] {
        if let Some((_, rest)) = msg.split_once(marker) {
            return rest.split('`').next().map(str::to_string);
        }
    }
    let (path, _) = msg.split_once(": ")?;
    (!path.contains(' ') && !path.is_empty()).then(|| path.to_string())
}

/// `axum::extract::Query` with our rejections.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(r) => {
                let text = match &r {
                    QueryRejection::FailedToDeserializeQueryString(e) => e.body_text(),
                    other => other.body_text(),
                };
                let detail = text
                    .split_once("Query string: ")
                    .map_or(text.as_str(), |(_, d)| d)
                    .to_string();
                let field = field_of(&detail);
                Err(ApiError::Validation {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    message: detail,
                    details: field.map(|f| serde_json::json!({ "field": f })),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn serde_messages_name_their_field() {
        assert_eq!(
            field_of("unknown field `colour`, expected one of `a`, `b`").as_deref(),
            Some("colour")
        );
        assert_eq!(
            field_of("missing field `amount` at line 1").as_deref(),
            Some("amount")
        );
        assert_eq!(
            field_of("amount: invalid type: string").as_deref(),
            Some("amount")
        );
        assert_eq!(field_of("EOF while parsing a value"), None);
    }
}
