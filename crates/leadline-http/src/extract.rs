//! Request extractors of the native API, each failing with a problem that names what was wrong.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use leadline_app::{keys, Principal};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::rate_limit::{ClientAddr, Group, Limited};
use crate::AppState;

/// A JSON object body; a syntax error gives its line and column, a wrong value names its field
/// path. Every native body is an object, and serde would otherwise also read a struct from an
/// array of its fields in order (`[null, null]` as a lead).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "the request body is larger than this server accepts")
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, format!("the request body could not be read: {rejection}"))
            }
        })?;
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') | None => parse_json(&bytes).map(JsonBody),
            Some(_) => Err(ApiError::bad_request("", "the body must be a JSON object")),
        }
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." { String::new() } else { path };
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request("", format!("the body is not valid JSON: {inner}"))
        } else {
            ApiError::bad_request(field, inner.to_string())
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::bad_request("", format!("the body has data after its JSON value: {e}")))?;
    Ok(value)
}

/// The caller, authenticated by `Authorization: Bearer <key>`, within its rate limit (or, without
/// a valid key, within its address's): past it, 429 with `Retry-After`.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let limiter = &state.rate_limiter;
        match authenticate(parts, state).await {
            Ok(principal) => {
                limiter.check_key(Group::Native, principal.key_id).map_err(too_many)?;
                Ok(Caller(principal))
            }
            Err(error) if error.status == StatusCode::UNAUTHORIZED => {
                let ClientAddr(address) =
                    ClientAddr::from_request_parts(parts, state).await.unwrap_or(ClientAddr(None));
                limiter.check_address(Group::Native, address).map_err(too_many)?;
                Err(error.into_response())
            }
            Err(error) => Err(error.into_response()),
        }
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "send an API key as `Authorization: Bearer <key>`"))?;
    let secret =
        header.to_str().ok().and_then(|h| h.strip_prefix("Bearer ")).map(str::trim).ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, "the Authorization header must read `Bearer <key>`")
        })?;
    Ok(keys::authenticate(&state.app, secret).await?)
}

/// The native API's answer past a rate limit: problem details, 429, and when to come back.
pub fn too_many(limited: Limited) -> Response {
    let mut response = ApiError::new(StatusCode::TOO_MANY_REQUESTS, limited.detail()).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(limited.retry_after_seconds()));
    response
}

/// Path parameters. axum's own `Path` refuses an unreadable one (bad percent-encoding, invalid
/// UTF-8) in plain text; this refuses it as problem details like every other bad input.
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(PathParams(value)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the request path could not be read: {}", rejection.body_text()),
            )),
        }
    }
}

/// The id in a path with one parameter; one that is not a positive whole number names no
/// object, so it is a 404.
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let PathParams(text) = PathParams::<String>::from_request_parts(parts, state).await?;
        parse_id(&text).map(PathId)
    }
}

/// Query-string parameters, taken one by one so that an unknown or malformed one is named.
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|_| ApiError::bad_request("", format!("the query string `{query}` could not be read")))?;
        Ok(Params(pairs.0))
    }
}

impl Params {
    pub fn take(&mut self, name: &str) -> Option<String> {
        let at = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.remove(at).1)
    }

    pub fn take_i64(&mut self, name: &str) -> Result<Option<i64>, ApiError> {
        self.take(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::bad_request(name, format!("{name} must be a whole number, not `{v}`")))
            })
            .transpose()
    }

    /// Whatever was not taken, for filters by field name.
    pub fn rest(self) -> Vec<(String, String)> {
        self.0
    }

    /// Refuses parameters nobody took.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.0.first() {
            Some((name, _)) => Err(ApiError::bad_request(name.as_str(), format!("unknown query parameter `{name}`"))),
            None => Ok(()),
        }
    }
}

pub fn parse_id(text: &str) -> Result<i64, ApiError> {
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => {
            Err(ApiError::new(StatusCode::NOT_FOUND, format!("`{text}` is not an id; ids are positive whole numbers")))
        }
    }
}
