//! Sign-in, sign-out, the session cookie, and the CSRF check on every form.
//!
//! The session cookie holds a random token (its hash is the session's key in the database). The
//! sign-in form, posted before any session exists, is protected by a double-submit token: a
//! random value set in a short-lived cookie and repeated in the form, which another site can
//! neither read nor set.

use axum::extract::{Form, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use leadline_app::console::{self, Session};
use leadline_app::AppError;
use maud::html;
use subtle::ConstantTimeEq;

use super::error::ConsoleError;
use super::layout;
use crate::AppState;

/// The cookie that names a session.
pub const SESSION_COOKIE: &str = "leadline_console";
/// The cookie that carries the sign-in form's token.
pub const PRE_COOKIE: &str = "leadline_console_pre";
/// The form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// The value of cookie `name`, from any `Cookie` header.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// `Set-Cookie` for a console cookie: HttpOnly, SameSite=Strict, scoped to `/console`, and
/// Secure when the request reached a TLS-terminating proxy in front of this node.
fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age_seconds: i64) -> String {
    let https = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p == "https");
    let secure = if https { "; Secure" } else { "" };
    format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_seconds}{secure}")
}

/// A request from a signed-in browser. Without a live session, the rejection sends it to sign-in.
pub struct Signed(pub Session);

impl FromRequestParts<AppState> for Signed {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ConsoleError> {
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(ConsoleError::SignIn)?;
        match console::session(&state.app, token).await? {
            Some(session) => Ok(Signed(session)),
            None => Err(ConsoleError::SignIn),
        }
    }
}

/// A posted form from a signed-in browser, carrying that session's CSRF token.
pub struct CsrfForm {
    pub session: Session,
    pub fields: Vec<(String, String)>,
}

impl CsrfForm {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of a field that repeats (ticked boxes).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

pub const MISSING_TOKEN: &str =
    "This form carried no security token, so nothing was changed. Reload the page and try again.";
pub const WRONG_TOKEN: &str =
    "This form's security token does not belong to your session, so nothing was changed. Reload the page and try again.";

async fn read_form(req: Request, state: &AppState) -> Result<Vec<(String, String)>, ConsoleError> {
    let Form(fields) = Form::<Vec<(String, String)>>::from_request(req, state)
        .await
        .map_err(|e| ConsoleError::bad_request(format!("the form could not be read: {e}")))?;
    Ok(fields)
}

impl FromRequest<AppState> for CsrfForm {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ConsoleError> {
        let (mut parts, body) = req.into_parts();
        let Signed(session) = Signed::from_request_parts(&mut parts, state).await?;
        let fields = read_form(Request::from_parts(parts, body), state).await?;
        let form = CsrfForm { session, fields };
        match form.get(CSRF_FIELD) {
            None | Some("") => Err(ConsoleError::Refused(MISSING_TOKEN)),
            Some(token) if !form.session.csrf_matches(token) => Err(ConsoleError::Refused(WRONG_TOKEN)),
            Some(_) => Ok(form),
        }
    }
}

fn sign_in_form(headers: &HeaderMap, status: StatusCode, message: Option<&str>, notice: Option<&str>) -> Response {
    let token = console::random_token();
    let body = html! {
        h1 { "Leadline console" }
        @if let Some(notice) = notice { p.flash.done role="status" { (notice) } }
        @if let Some(message) = message { p.flash.failed role="alert" { (message) } }
        form.signin method="post" action="/console/sign-in" {
            input type="hidden" name=(CSRF_FIELD) value=(token);
            label for="api_key" { "API key" }
            input #api_key type="password" name="api_key" autocomplete="current-password" required
                placeholder="ll_…" maxlength="50";
            button type="submit" { "Sign in" }
        }
        p.hint { "Sign in with an API key; the console acts with that key's role. "
                 "Keys are made with " code { "leadline keys create" } "." }
    };
    let cookie = set_cookie(headers, PRE_COOKIE, &token, 3600);
    (status, AppendHeaders([(header::SET_COOKIE, cookie)]), layout::bare("Sign in", body)).into_response()
}

#[derive(serde::Deserialize)]
pub struct SignInQuery {
    #[serde(default)]
    signed_out: Option<String>,
}

pub async fn sign_in_page(headers: HeaderMap, query: axum::extract::Query<SignInQuery>) -> Response {
    let notice = query.signed_out.as_ref().map(|_| "You have signed out.");
    sign_in_form(&headers, StatusCode::OK, None, notice)
}

pub async fn sign_in(State(state): State<AppState>, req: Request) -> Result<Response, ConsoleError> {
    let headers = req.headers().clone();
    let fields = read_form(req, &state).await?;
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let expected = cookie(&headers, PRE_COOKIE).unwrap_or("");
    match field(CSRF_FIELD) {
        None | Some("") => return Err(ConsoleError::Refused(MISSING_TOKEN)),
        Some(token) if expected.is_empty() || !bool::from(token.as_bytes().ct_eq(expected.as_bytes())) => {
            return Err(ConsoleError::Refused(WRONG_TOKEN))
        }
        Some(_) => {}
    }
    let secret = field("api_key").unwrap_or("");
    if secret.trim().is_empty() {
        return Ok(sign_in_form(&headers, StatusCode::BAD_REQUEST, Some("Enter an API key."), None));
    }
    match console::sign_in(&state.app, secret).await {
        Ok(session) => {
            let lifetime = console::SESSION_LIFETIME.as_secs();
            Ok((
                AppendHeaders([
                    (header::SET_COOKIE, set_cookie(&headers, SESSION_COOKIE, &session.token, lifetime)),
                    (header::SET_COOKIE, set_cookie(&headers, PRE_COOKIE, "", 0)),
                ]),
                Redirect::to("/console"),
            )
                .into_response())
        }
        Err(AppError::Unauthorized(why)) => {
            Ok(sign_in_form(&headers, StatusCode::UNAUTHORIZED, Some(&format!("Not signed in: {why}.")), None))
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: CsrfForm,
) -> Result<Response, ConsoleError> {
    console::sign_out(&state.app, form.session.id).await?;
    Ok((
        AppendHeaders([(header::SET_COOKIE, set_cookie(&headers, SESSION_COOKIE, "", 0))]),
        Redirect::to("/console/sign-in?signed_out=1"),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others_and_across_headers() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, "a=1; leadline_console_pre=xyz".parse().unwrap());
        headers.append(header::COOKIE, "leadline_console=abc".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, PRE_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "b"), None);
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_behind_tls() {
        let plain = set_cookie(&HeaderMap::new(), SESSION_COOKIE, "t", 60);
        assert_eq!(plain, "leadline_console=t; Path=/console; HttpOnly; SameSite=Strict; Max-Age=60");
        let mut proxied = HeaderMap::new();
        proxied.insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(set_cookie(&proxied, SESSION_COOKIE, "t", 60).ends_with("; Secure"));
    }
}
