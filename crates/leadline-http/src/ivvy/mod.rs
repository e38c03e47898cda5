//! The iVvy CRM dialect: `POST /api/1.0/<namespace>?action=<action>` with a JSON body, signed
//! as iVvy's SDKs sign (see [`signature`]), answering in iVvy's JSON shapes. See
//! `docs/dialects/ivvy.md`.

pub mod error;
pub mod signature;
pub mod wire;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use leadline_app::crm;
use leadline_app::signing::{self, ServerKey};
use leadline_app::{keys, Principal};
use serde_json::{json, Value};

use self::error::{IvvyError, NO_SPECIFIC_CODE};
use crate::rate_limit::{ClientAddr, Group, Limited};
use crate::AppState;

/// Settings of the iVvy dialect.
#[derive(Debug, Clone, Default)]
pub struct IvvySettings {
    /// The server signing key signing secrets are derived from; without it, signed requests are
    /// refused.
    pub server_key: Option<ServerKey>,
    /// Also accept a plain Leadline key as `Authorization: Bearer <key>` (off unless turned on).
    pub allow_bearer: bool,
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/1.0/{namespace}", post(call))
}

/// The look-up lists: (namespace, list action, addOrUpdate action, collection).
const LOOKUP_ACTIONS: &[(&str, &str, &str, &str)] = &[
    ("crm", "getLeadQualityList", "addOrUpdateLeadQuality", "lead-qualities"),
    ("account", "getIndustryList", "addOrUpdateIndustry", "industries"),
    ("crm", "getLeadSourceList", "addOrUpdateLeadSource", "lead-sources"),
    ("crm", "getLeadTypeList", "addOrUpdateLeadType", "lead-types"),
    ("crm", "getLeadStageList", "addOrUpdateLeadStage", "lead-stages"),
    ("crm", "getLeadChannelList", "addOrUpdateLeadChannel", "lead-channels"),
];

async fn authenticate(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Principal, IvvyError> {
    let app = &state.app;
    let settings = &state.settings.ivvy;
    let unauthorized = |e: leadline_app::AppError| IvvyError::from_app(e, |errors| IvvyError::invalid(&errors));
    if !headers.contains_key("x-api-authorization") {
        if let Some(bearer) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            if !settings.allow_bearer {
                return Err(IvvyError::unauthorized(
                    "this server accepts only signed iVvy requests (X-Api-Authorization: IWS <key>:<signature>)",
                ));
            }
            let secret = bearer.strip_prefix("Bearer ").map(str::trim).unwrap_or("");
            return keys::authenticate(app, secret).await.map_err(unauthorized);
        }
    }
    let presented = signature::presented(method, uri, headers, body, app.now())?;
    let server_key = settings
        .server_key
        .as_ref()
        .ok_or_else(|| IvvyError::unauthorized("this server has no iVvy signing key configured"))?;
    let (principal, secret) =
        signing::authenticate(app, server_key, &presented.access_key).await.map_err(unauthorized)?;
    presented.verify(&secret)?;
    if !signing::first_sighting(app, &presented.signature, signature::WINDOW).await.map_err(unauthorized)? {
        return Err(IvvyError::unauthorized("this signed request was already received; sign each request anew"));
    }
    Ok(principal)
}

async fn call(
    State(state): State<AppState>,
    client: ClientAddr,
    Path(namespace): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return IvvyError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                NO_SPECIFIC_CODE,
                "the request body is larger than this server accepts",
            )
            .into_response()
        }
        Err(rejection) => {
            return IvvyError::new(StatusCode::BAD_REQUEST, NO_SPECIFIC_CODE, "the request body could not be read")
                .with([rejection.to_string()])
                .into_response()
        }
    };
    let action =
        uri.query().unwrap_or("").split('&').find_map(|pair| pair.strip_prefix("action=")).unwrap_or("").to_string();
    let limiter = &state.rate_limiter;
    let by = match authenticate(&state, &method, &uri, &headers, &body).await {
        Ok(by) => by,
        Err(error) if error.status == StatusCode::UNAUTHORIZED => {
            return match limiter.check_address(Group::Ivvy, client.0) {
                Ok(()) => error.into_response(),
                Err(over) => too_many(over),
            }
        }
        Err(error) => return error.into_response(),
    };
    if let Err(over) = limiter.check_key(Group::Ivvy, by.key_id) {
        return too_many(over);
    }
    match dispatch(&state, &by, &namespace, &action, &body).await {
        Ok(value) => Json(value).into_response(),
        Err(error) => error.into_response(),
    }
}

/// iVvy's error body for a request past a rate limit: 429, with `Retry-After`.
fn too_many(limited: Limited) -> Response {
    let mut response = IvvyError::new(StatusCode::TOO_MANY_REQUESTS, NO_SPECIFIC_CODE, "Too many requests")
        .with([limited.detail()])
        .into_response();
    response.headers_mut().insert(header::RETRY_AFTER, limited.retry_after_seconds().into());
    response
}

async fn dispatch(
    state: &AppState,
    by: &Principal,
    namespace: &str,
    action: &str,
    body: &[u8],
) -> Result<Value, IvvyError> {
    let app = &state.app;
    match (namespace, action) {
        ("test", "ping") => Ok(json!({"success": true})),
        ("contact", "addOrUpdateLead") => {
            let (id, input) = wire::lead_request(body)?;
            let id = crm::add_or_update(app, by, id, input).await?;
            Ok(json!({"success": true, "id": id}))
        }
        ("crm", "getLeadList") => {
            let request = wire::list_request(body, true)?;
            let page = crm::list_leads(app, by, &request.conditions, request.start, request.per_page)
                .await
                .map_err(|e| IvvyError::from_app(e, |errors| IvvyError::invalid(&errors)))?;
            let results: Vec<Value> = page.leads.iter().map(wire::show_lead).collect();
            Ok(wire::list_reply(page.total, request.start, request.per_page, results))
        }
        _ => {
            for (ns, list, add, name) in LOOKUP_ACTIONS {
                if namespace != *ns {
                    continue;
                }
                if action == *list {
                    let request = wire::list_request(body, false)?;
                    let page = crm::list_lookup(app, by, name, request.start, request.per_page)
                        .await
                        .map_err(|e| IvvyError::from_app(e, |errors| IvvyError::invalid(&errors)))?;
                    return Ok(wire::list_reply(page.total, request.start, request.per_page, page.items));
                }
                if action == *add {
                    let (id, fields) = wire::lookup_request(body)?;
                    let id = crm::add_or_update_lookup(app, by, name, id, fields)
                        .await
                        .map_err(|e| IvvyError::from_app(e, |errors| IvvyError::invalid(&errors)))?;
                    return Ok(json!({"success": true, "id": id}));
                }
            }
            Err(IvvyError::new(
                StatusCode::NOT_FOUND,
                NO_SPECIFIC_CODE,
                format!("there is no action `{action}` in namespace `{namespace}`"),
            ))
        }
    }
}
