//! Request extractors whose rejections are problem+json naming the field at fault: JSON bodies,
//! query parameters and path parameters; and the `If-None-Match` check of cached answers. The
//! extractors are the one place where text is checked for NUL characters, which PostgreSQL
//! refuses in `text` and `jsonb`: no handler sees one.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// A JSON request body. Malformed JSON or a wrong field is a 400 naming the field; a body over
/// the configured limit is a 413; a body that is not JSON, or in an encoding the API does not
/// decode, is a 415.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        check_json_content(request.headers())?;
        let bytes = Bytes::from_request(request, state).await.map_err(body_error)?;
        parse_json(&bytes).map(Self)
    }
}

/// Answers 415 unless the headers announce a JSON body that the API can read: gzip is decoded
/// by a layer before any handler (which then removes `Content-Encoding`), other encodings are
/// refused.
pub fn check_json_content(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json") || value.contains("+json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|value| value.to_str().ok());
    if encoding.is_some_and(|encoding| !encoding.trim().eq_ignore_ascii_case("identity")) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be sent as it is or gzip-compressed (Content-Encoding: gzip)",
        ));
    }
    Ok(())
}

/// Parses a JSON body; an error is a 400 naming the field at fault, a NUL character in any
/// string (nested values included) too.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if has_escaped_nul(bytes) {
        // Rare: worth a second parse to name the field.
        let value: Value = parse_typed(bytes)?;
        if let Some(field) = nul_field(&value, String::new()) {
            return Err(nul_error(if field.is_empty() { ".".to_owned() } else { field }));
        }
    }
    parse_typed(bytes)
}

fn parse_typed<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let field = error.path().to_string();
        let detail = format!("invalid JSON body: {}", error.inner());
        if field == "." { ApiError::bad_request(detail) } else { ApiError::invalid_field(field, detail) }
    })
}

/// Whether the JSON text holds `\u0000` as an escape (a raw NUL byte is not valid JSON, and
/// `\\u0000` is a backslash followed by text).
fn has_escaped_nul(bytes: &[u8]) -> bool {
    let mut index = 0;
    while let Some(offset) = bytes[index..].windows(6).position(|window| window.eq_ignore_ascii_case(b"\\u0000")) {
        let at = index + offset;
        let backslashes = bytes[..at].iter().rev().take_while(|&&byte| byte == b'\\').count();
        if backslashes % 2 == 0 {
            return true;
        }
        index = at + 1;
    }
    false
}

/// The path (`parameters.REPOSITORY`, `issues[2].message`) of the first string or key holding
/// a NUL character.
fn nul_field(value: &Value, path: String) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then_some(path),
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(index, item)| nul_field(item, format!("{path}[{index}]")))
        }
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let field = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            if key.contains('\0') { Some(field) } else { nul_field(item, field) }
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

/// 400: `field` holds a NUL character.
pub fn nul_error(field: impl Into<String>) -> ApiError {
    ApiError::invalid_field(field, "text may not contain NUL characters")
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "the body is larger than this API accepts")
    } else {
        ApiError::bad_request(format!("cannot read the body: {rejection}"))
    }
}

/// Query parameters; a malformed one, or one holding a NUL character, is a 400 naming it.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs = form_urlencoded::parse(query.as_bytes());
        // A NUL can only come from `%00`: decode the pairs to name it only when there is one.
        if (query.contains("%00") || query.contains('\0'))
            && let Some((name, _)) = pairs.clone().find(|(name, value)| name.contains('\0') || value.contains('\0'))
        {
            return Err(nul_error(name.replace('\0', "\u{fffd}")));
        }
        if let Ok(params) = T::deserialize(serde_urlencoded::Deserializer::new(pairs)) {
            return Ok(Self(params));
        }
        // Read again, following the path, only to name the parameter at fault.
        let error =
            serde_path_to_error::deserialize::<_, T>(serde_urlencoded::Deserializer::new(pairs)).err().map_or_else(
                || ApiError::bad_request("invalid query parameters"),
                |error| {
                    ApiError::invalid_field(
                        error.path().to_string(),
                        format!("invalid query parameter: {}", error.inner()),
                    )
                },
            );
        Err(error)
    }
}

/// Path parameters (`/runs/{id}`); a malformed one, or one holding a NUL character, is a 400
/// naming it.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::bad_request(format!("invalid path: {rejection}")))?;
        let mut first = None;
        for (name, value) in &raw {
            if value.contains('\0') {
                return Err(nul_error(name));
            }
            first.get_or_insert_with(|| name.to_owned());
        }
        axum::extract::Path::<T>::from_request_parts(parts, state).await.map(|path| Self(path.0)).map_err(|rejection| {
            let detail = format!("invalid path parameter: {}", rejection.body_text());
            match first {
                Some(name) if raw.iter().count() == 1 => ApiError::invalid_field(name, detail),
                _ => ApiError::bad_request(detail),
            }
        })
    }
}

/// The request's `If-None-Match`: the versions of an answer the client already holds. Only this
/// header is read, not a copy of them all.
#[derive(Debug)]
pub struct IfNoneMatch(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(header::IF_NONE_MATCH).cloned()))
    }
}

impl IfNoneMatch {
    /// Whether the client holds `etag` (a quoted tag), or any version (`*`): it gets 304.
    pub fn holds(&self, etag: &str) -> bool {
        self.0
            .as_ref()
            .and_then(|value| value.to_str().ok())
            .is_some_and(|held| held.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_real_escaped_nul_counts() {
        assert!(has_escaped_nul(br#"{"a": "x\u0000"}"#));
        assert!(has_escaped_nul(br#"{"a": "\\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"a": "\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"a": "u0000"}"#));
    }

    #[test]
    fn the_field_holding_a_nul_is_named_however_deep() {
        let error = parse_json::<Value>(br#"{"run": {"parameters": {"A": ["ok", "b\u0000"]}}}"#).unwrap_err();
        assert_eq!(error.problem().field.as_deref(), Some("run.parameters.A[1]"));
        let error = parse_json::<Value>(br#"{"counts": {"k\u0000": 1}}"#).unwrap_err();
        assert_eq!(error.problem().field.as_deref(), Some("counts.k\0"));
        assert!(parse_json::<Value>(br#"{"a": "\\u0000"}"#).is_ok());
    }
}
