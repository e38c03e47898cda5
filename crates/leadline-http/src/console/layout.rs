//! The page frame (head, navigation, the one-time message) and small formatting helpers.

use jiff::{SignedDuration, Timestamp};
use leadline_app::console::{Flash, Session};
use leadline_core::access::Role;
use maud::{html, Markup, DOCTYPE};

use super::session::CSRF_FIELD;

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Leadline console" }
            link rel="stylesheet" href="/console/assets/console.css";
            script src="/console/assets/console.js" defer {}
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare { main { (body) } }
        }
    }
}

/// The hidden field carrying the session's CSRF token; every state-changing form has one.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(session.csrf); }
}

/// Which navigation entries a role has.
fn nav_entries(role: &Role) -> Vec<(&'static str, &'static str, &'static str)> {
    let mut entries = Vec::new();
    if matches!(role, Role::Admin | Role::ReadOnly) {
        entries.push(("dashboard", "/console/dashboard", "Dashboard"));
    }
    if !matches!(role, Role::Buyer { .. }) {
        entries.push(("grid", "/console/grid", "Grid"));
        entries.push(("dialer", "/console/dialer", "Dialer"));
    }
    if !matches!(role, Role::Dialer { .. }) {
        entries.push(("returns", "/console/returns", "Returns"));
        entries.push(("ledger", "/console/ledger", "Ledger"));
    }
    if matches!(role, Role::Admin | Role::Archiver) {
        entries.push(("archive", "/console/archive", "Archive"));
    }
    entries
}

/// A signed-in page: navigation, the message left by the last form, then `body`.
pub fn page(title: &str, active: &str, session: &Session, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    a.brand href="/console" { "Leadline" }
                    nav {
                        @for (name, href, label) in nav_entries(&session.principal.role) {
                            a href=(href) class=[(name == active).then_some("active")] { (label) }
                        }
                    }
                    form.signout method="post" action="/console/sign-out" {
                        (csrf(session))
                        span.who title="the key this session acts as" {
                            (session.key_name) " (" (session.principal.role.name()) ")"
                        }
                        button type="submit" { "Sign out" }
                    }
                }
                main {
                    @match &session.flash {
                        Some(Flash::Done(text)) => p.flash.done role="status" { (text) },
                        Some(Flash::Failed(text)) => p.flash.failed role="alert" { (text) },
                        None => {},
                    }
                    (body)
                }
            }
        }
    }
}

/// A timestamp as `2026-11-23 09:30 UTC`.
pub fn time(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn opt_time(at: Option<Timestamp>) -> String {
    at.map(time).unwrap_or_default()
}

/// How long ago, roughly: `3 d 4 h`, `2 h 5 min`, `40 min`.
pub fn age(since: Timestamp, now: Timestamp) -> String {
    let span: SignedDuration = now.duration_since(since);
    let minutes = span.as_secs().max(0) / 60;
    let (days, hours, mins) = (minutes / 1440, (minutes / 60) % 24, minutes % 60);
    if days > 0 {
        format!("{days} d {hours} h")
    } else if hours > 0 {
        format!("{hours} h {mins} min")
    } else {
        format!("{mins} min")
    }
}

/// A JSON value as plain text: strings bare, nothing for null, a list of plain values joined
/// with commas, the rest as JSON.
pub fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) if items.iter().all(|i| !i.is_array() && !i.is_object()) => {
            items.iter().map(value_text).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_the_largest_units() {
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(age(at("2026-11-23T11:20:00Z"), now), "40 min");
        assert_eq!(age(at("2026-11-23T09:55:00Z"), now), "2 h 5 min");
        assert_eq!(age(at("2026-11-20T08:00:00Z"), now), "3 d 4 h");
        assert_eq!(age(at("2026-11-24T08:00:00Z"), now), "0 min");
    }

    #[test]
    fn values_show_as_plain_text() {
        assert_eq!(value_text(&serde_json::json!("<b>")), "<b>");
        assert_eq!(value_text(&serde_json::Value::Null), "");
        assert_eq!(value_text(&serde_json::json!(["0412", "0413"])), "0412, 0413");
        assert_eq!(value_text(&serde_json::json!([{"a": 1}])), r#"[{"a":1}]"#);
    }
}
