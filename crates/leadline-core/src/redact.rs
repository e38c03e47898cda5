//! What of a URL may be written to a log or an error message.
//!
//! A database URL can carry its password (`postgres://user:PASSWORD@host/db` or
//! `?password=…`); a webhook URL can carry a lead's phone or name in its path or query
//! (`https://crm.example/hook/0299990000?name=Ann`). Logs are read by more people than the data,
//! so neither goes there whole.

/// A database URL with its password replaced by `***`, in the user part and in a `password`
/// query parameter; everything else (user, host, database, other options) stays, so an operator
/// can still tell which database is meant.
pub fn database_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((query, fragment)) => (query, Some(fragment)),
                None => (query, None),
            };
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
                    _ => pair.to_string(),
                })
                .collect();
            let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
            format!("{path}?{}{fragment}", pairs.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Only the scheme, host and port of an outbound URL (a webhook's), without the user part, path,
/// query or fragment, which may carry a lead's data or a credential. Text that is not an
/// absolute URL becomes `(not a URL)`, never itself.
pub fn url_origin(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "(not a URL)".into() };
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
        return "(not a URL)".into();
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_password_is_hidden_wherever_the_url_carries_it() {
        assert_eq!(
            database_url("postgres://leadline:s3cr%40t@db.internal:5432/leads?sslmode=require"),
            "postgres://leadline:***@db.internal:5432/leads?sslmode=require"
        );
        assert_eq!(
            database_url("postgres://leadline@db/leads?sslmode=require&Password=hunter2#x"),
            "postgres://leadline@db/leads?sslmode=require&Password=***#x"
        );
        assert_eq!(database_url("postgres://a:b:c@host/db"), "postgres://a:***@host/db", "a colon in the password");
        assert_eq!(database_url("postgres://p@ss:w@rd@host/db"), "postgres://p@ss:***@host/db", "the last @ ends it");
        assert_eq!(database_url("sqlite://data/leadline.db"), "sqlite://data/leadline.db");
        assert_eq!(database_url("mysql://root@127.0.0.1:3306/asterisk"), "mysql://root@127.0.0.1:3306/asterisk");
        assert_eq!(database_url("leadline.db"), "leadline.db");
    }

    #[test]
    fn a_webhook_url_keeps_only_where_it_goes() {
        assert_eq!(url_origin("https://crm.example:8443/hook/0299990000?name=Ann+Lee#top"), "https://crm.example:8443");
        assert_eq!(url_origin("http://user:token@hooks.example?phone=0412345678"), "http://hooks.example");
        assert_eq!(url_origin("https://hooks.example"), "https://hooks.example");
        assert_eq!(url_origin("0412345678 Ann Lee"), "(not a URL)");
        assert_eq!(url_origin("://0412345678"), "(not a URL)");
    }
}
