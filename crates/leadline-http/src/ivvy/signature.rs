//! iVvy request signing, as the official SDKs do it:
//!
//! `signature = hex(HMAC-SHA1(secret, lowercase(method + content-md5 + content-type + date +
//! request-uri + api-version + ivvy-headers)))`, where `date` is empty when `IVVY-Date` is sent
//! and `ivvy-headers` are the headers whose names start with `IVVY`, names stripped of `-` and
//! `_`, sorted, joined as `name=value` with `&`. Sent as `X-Api-Authorization: IWS key:signature`.

use axum::http::{HeaderMap, Method, Uri};
use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use md5::{Digest, Md5};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use super::error::IvvyError;

/// How far a request's date may be from the server's clock, either way.
pub const WINDOW: SignedDuration = SignedDuration::from_mins(5);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex MD5 of a body (also of an empty one).
pub fn body_md5(body: &[u8]) -> String {
    hex(&Md5::digest(body))
}

/// Hex HMAC-SHA1 of the string to sign.
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(string_to_sign.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// The parts of a request that are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub method: String,
    pub content_md5: String,
    pub content_type: String,
    /// The `Date` header; empty when `IVVY-Date` is sent.
    pub date: String,
    pub request_uri: String,
    pub api_version: String,
    /// `(name without - and _, value)` of each `IVVY…` header.
    pub ivvy_headers: Vec<(String, String)>,
}

impl Signed {
    pub fn string_to_sign(&self) -> String {
        let mut headers = self.ivvy_headers.clone();
        headers.sort();
        let joined: Vec<String> = headers.iter().map(|(n, v)| format!("{n}={v}")).collect();
        format!(
            "{}{}{}{}{}{}{}",
            self.method,
            self.content_md5,
            self.content_type,
            self.date,
            self.request_uri,
            self.api_version,
            joined.join("&")
        )
        .to_lowercase()
    }
}

/// A request whose signature is yet to be checked against the key's secret.
#[derive(Debug)]
pub struct Presented {
    pub access_key: String,
    pub signature: String,
    pub signed: Signed,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, IvvyError> {
    headers
        .get(name)
        .map(|v| v.to_str().map_err(|_| IvvyError::unauthorized(format!("the {name} header is not readable text"))))
        .transpose()
}

fn required<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, IvvyError> {
    header(headers, name)?.ok_or_else(|| IvvyError::unauthorized(format!("the {name} header is missing")))
}

/// Reads the signing headers and checks everything that needs no secret: the authorization
/// header's form, the body's MD5, and that the request is dated within [`WINDOW`] of `now`.
pub fn presented(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> Result<Presented, IvvyError> {
    let authorization = required(headers, "x-api-authorization")?;
    let (access_key, signature) = authorization
        .strip_prefix("IWS ")
        .and_then(|rest| rest.trim().split_once(':'))
        .filter(|(key, signature)| !key.is_empty() && !signature.is_empty())
        .ok_or_else(|| IvvyError::unauthorized("the X-Api-Authorization header must read `IWS <key>:<signature>`"))?;
    let content_md5 = required(headers, "content-md5")?;
    if !content_md5.eq_ignore_ascii_case(&body_md5(body)) {
        return Err(IvvyError::unauthorized("the Content-MD5 header does not match the request body"));
    }
    let api_version = required(headers, "x-api-version")?;
    let ivvy_date = header(headers, "ivvy-date")?;
    let date_header = header(headers, "date")?;
    let sent_at = match (ivvy_date, date_header) {
        (Some(text), _) => leadline_core::crm::parse_time(text).ok_or_else(|| {
            IvvyError::unauthorized(format!(
                "the IVVY-Date header `{text}` is not a UTC date such as 2026-11-22 14:30:00"
            ))
        })?,
        (None, Some(text)) => jiff::fmt::rfc2822::parse(text)
            .map(|z| z.timestamp())
            .map_err(|_| IvvyError::unauthorized(format!("the Date header `{text}` is not an HTTP date")))?,
        (None, None) => return Err(IvvyError::unauthorized("the IVVY-Date header is missing")),
    };
    let age = now.duration_since(sent_at);
    if age > WINDOW {
        return Err(IvvyError::unauthorized(
            "the request is more than 5 minutes old; sign it again with the current time",
        ));
    }
    if age < -WINDOW {
        return Err(IvvyError::unauthorized(
            "the request is dated more than 5 minutes ahead; check the client's clock",
        ));
    }
    let mut ivvy_headers = Vec::new();
    for (name, value) in headers {
        if name.as_str().starts_with("ivvy") {
            let value = value
                .to_str()
                .map_err(|_| IvvyError::unauthorized(format!("the {name} header is not readable text")))?;
            ivvy_headers.push((name.as_str().replace(['-', '_'], ""), value.to_string()));
        }
    }
    let signed = Signed {
        method: method.as_str().to_string(),
        content_md5: content_md5.to_string(),
        content_type: header(headers, "content-type")?.unwrap_or("").to_string(),
        date: if ivvy_date.is_some() { String::new() } else { date_header.unwrap_or("").to_string() },
        request_uri: uri.path_and_query().map(|p| p.as_str()).unwrap_or(uri.path()).to_string(),
        api_version: api_version.to_string(),
        ivvy_headers,
    };
    Ok(Presented { access_key: access_key.to_string(), signature: signature.to_ascii_lowercase(), signed })
}

impl Presented {
    /// Whether the signature is the one `secret` gives, compared in constant time.
    pub fn verify(&self, secret: &str) -> Result<(), IvvyError> {
        let expected = sign(secret, &self.signed.string_to_sign());
        if bool::from(expected.as_bytes().ct_eq(self.signature.as_bytes())) {
            Ok(())
        } else {
            Err(IvvyError::unauthorized(
                "the request signature does not match; sign method, Content-MD5, Content-Type, date, URI, \
                 X-Api-Version and IVVY headers as sent",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_test_vector_signs_as_published() {
        let body = br#"{"example":"body"}"#;
        assert_eq!(body_md5(body), "a09f600c77a6dbd947db24c61e8935ca");
        let signed = Signed {
            method: "POST".into(),
            content_md5: body_md5(body),
            content_type: "application/json".into(),
            date: String::new(),
            request_uri: "/api/1.0/test?action=ping".into(),
            api_version: "1.0".into(),
            ivvy_headers: vec![("IVVYDate".into(), "2012-04-03 22:23:24".into())],
        };
        let string = signed.string_to_sign();
        assert_eq!(
            string,
            "posta09f600c77a6dbd947db24c61e8935caapplication/json/api/1.0/test?action=ping1.0ivvydate=2012-04-03 22:23:24"
        );
        assert_eq!(sign("foo", &string), "8c7a8f2bcd32aa06d9c4097653bee4106b64fe81");
    }

    #[test]
    fn the_empty_body_has_an_md5_too() {
        assert_eq!(body_md5(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn ivvy_headers_are_sorted_and_joined() {
        let signed = Signed {
            method: "POST".into(),
            content_md5: String::new(),
            content_type: String::new(),
            date: String::new(),
            request_uri: "/".into(),
            api_version: "1.0".into(),
            ivvy_headers: vec![("ivvytrace".into(), "b".into()), ("ivvydate".into(), "a".into())],
        };
        assert_eq!(signed.string_to_sign(), "post/1.0ivvydate=a&ivvytrace=b");
    }
}
