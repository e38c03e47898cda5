//! API keys: creation (the secret is shown once), authentication, listing and revocation.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
pub use leadline_core::access::ApiKey;
use leadline_core::access::Role;
use leadline_store::keys::{self as store, NewKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{App, AppError, Principal, Result};

/// Every secret starts with this, so a leaked key is recognisable in logs and scanners.
pub const KEY_PREFIX: &str = "ll_";
const SECRET_LEN: usize = 40;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// What a caller asks for when creating a key.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    pub role: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub buyer_id: Option<i64>,
    #[serde(default)]
    pub campaign_ids: Vec<i64>,
    /// Lifetime such as `90d`, `12h` or `30m`.
    #[serde(default)]
    pub expires_in: Option<String>,
}

/// A new key: its listing view and the secret, which is never shown again.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: ApiKey,
    pub secret: String,
}

pub fn hash_secret(secret: &str) -> String {
    format!("{:x}", Sha256::digest(secret.as_bytes()))
}

/// How long a key found live is trusted without reading it again. Revoking a key on this node
/// takes effect at once; a revocation made elsewhere (another node, the command line) within
/// this time. Expiry is checked on every request.
const TRUSTED_FOR: Duration = Duration::from_secs(1);
/// Most keys remembered at once; the memory starts over when it is full.
const REMEMBERED_KEYS: usize = 4096;

/// The keys this node found live lately, by the hash of their secret, so that a busy caller's
/// requests do not each read its key from the database.
#[derive(Debug, Default)]
pub struct LiveKeys {
    by_hash: Mutex<HashMap<String, LiveKey>>,
}

#[derive(Debug)]
struct LiveKey {
    principal: Principal,
    expires_at: Option<Timestamp>,
    read_at: Instant,
}

impl LiveKeys {
    fn trusted(&self, hash: &str, now: Timestamp) -> Option<Principal> {
        let by_hash = self.by_hash.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = by_hash.get(hash)?;
        let fresh = key.read_at.elapsed() < TRUSTED_FOR && key.expires_at.is_none_or(|at| at > now);
        fresh.then(|| key.principal.clone())
    }

    fn remember(&self, hash: String, principal: &Principal, expires_at: Option<Timestamp>) {
        let mut by_hash = self.by_hash.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if by_hash.len() >= REMEMBERED_KEYS && !by_hash.contains_key(&hash) {
            by_hash.clear();
        }
        by_hash.insert(hash, LiveKey { principal: principal.clone(), expires_at, read_at: Instant::now() });
    }

    fn forget(&self, key_id: i64) {
        let mut by_hash = self.by_hash.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        by_hash.retain(|_, key| key.principal.key_id != Some(key_id));
    }
}

fn new_secret() -> String {
    let mut secret = String::from(KEY_PREFIX);
    let mut bytes = [0u8; SECRET_LEN];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    // 62 * 4 = 248 of 256 byte values map evenly; re-draw the few that would bias the result.
    for mut b in bytes {
        while b >= 248 {
            let mut one = [0u8; 1];
            getrandom::fill(&mut one).expect("the operating system's random source works");
            b = one[0];
        }
        secret.push(BASE62[usize::from(b % 62)] as char);
    }
    secret
}

/// Reads a lifetime such as `90d`, `12h`, `30m`.
pub fn parse_lifetime(text: &str) -> Result<SignedDuration> {
    let bad = || AppError::invalid("expires_in", format!("`{text}` is not a lifetime such as 90d, 12h or 30m"));
    // The unit is the last character, which need not be one byte.
    let unit_at = text.char_indices().last().map_or(0, |(at, _)| at);
    let (number, unit) = text.split_at(unit_at);
    let n: i64 = number.parse().map_err(|_| bad())?;
    if n <= 0 || n > 100_000 {
        return Err(bad());
    }
    match unit {
        "d" => Ok(SignedDuration::from_hours(n * 24)),
        "h" => Ok(SignedDuration::from_hours(n)),
        "m" => Ok(SignedDuration::from_mins(n)),
        _ => Err(bad()),
    }
}

#[tracing::instrument(name = "keys.create", skip_all, fields(key = by.key_id, role = %request.role))]
pub async fn create(app: &App, by: &Principal, request: &KeyRequest) -> Result<CreatedKey> {
    by.require_admin()?;
    let role = Role::from_parts(&request.role, request.buyer_id, request.campaign_ids.clone())?;
    let now = app.now();
    let expires_at = match &request.expires_in {
        Some(lifetime) => Some(
            now.checked_add(parse_lifetime(lifetime)?)
                .map_err(|_| AppError::invalid("expires_in", "is too far in the future"))?,
        ),
        None => None,
    };
    let name = request.name.clone().unwrap_or_else(|| format!("{} key", role.name()));
    if name.chars().count() > 200 {
        return Err(AppError::invalid("name", "must be at most 200 characters"));
    }
    let secret = new_secret();
    let prefix: String = secret.chars().take(KEY_PREFIX.len() + 5).collect();
    let mut tx = app.store.begin().await?;
    if let Some(buyer) = role.buyer_id() {
        if !leadline_store::catalog::exists(&mut tx, "buyers", buyer).await? {
            return Err(AppError::invalid("buyer_id", format!("no buyer with id {buyer}")));
        }
    }
    for (i, campaign) in role.campaign_ids().iter().enumerate() {
        if !leadline_store::catalog::exists(&mut tx, "campaigns", *campaign).await? {
            return Err(AppError::invalid(format!("campaign_ids[{i}]"), format!("no campaign with id {campaign}")));
        }
    }
    let id = store::insert(
        &mut tx,
        &NewKey {
            name: &name,
            prefix: &prefix,
            secret_hash: &hash_secret(&secret),
            role: role.name(),
            buyer_id: role.buyer_id(),
            campaign_ids: role.campaign_ids(),
            created_at: now,
            expires_at,
        },
    )
    .await?;
    let record = store::get(&mut tx, id).await?.ok_or_else(|| AppError::not_found("key", id))?;
    tx.commit().await?;
    Ok(CreatedKey { key: record, secret })
}

/// Finds the live key for a presented secret. Unknown, revoked and expired keys are all
/// refused; the message says which, since the caller already holds the secret.
pub async fn authenticate(app: &App, secret: &str) -> Result<Principal> {
    if secret.is_empty() || secret.len() > 50 {
        return Err(AppError::Unauthorized("unknown API key".into()));
    }
    let hash = hash_secret(secret);
    if let Some(principal) = app.live_keys.trusted(&hash, app.now()) {
        return Ok(principal);
    }
    let found = app.store.look_up(&store::ByHash(&hash)).await?;
    let Some((record, stored_hash)) = found else {
        return Err(AppError::Unauthorized("unknown API key".into()));
    };
    if !bool::from(stored_hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Err(AppError::Unauthorized("unknown API key".into()));
    }
    if record.revoked_at.is_some() {
        return Err(AppError::Unauthorized("this API key has been revoked".into()));
    }
    if record.expires_at.is_some_and(|at| at <= app.now()) {
        return Err(AppError::Unauthorized("this API key has expired".into()));
    }
    let role = Role::from_parts(&record.role, record.buyer_id, record.campaign_ids)
        .map_err(|e| leadline_store::StoreError::Corrupt(format!("api key {}: {e}", record.id)))?;
    let principal = Principal { key_id: Some(record.id), role };
    app.live_keys.remember(hash, &principal, record.expires_at);
    Ok(principal)
}

#[tracing::instrument(name = "keys.list", skip_all, fields(key = by.key_id))]
pub async fn list(app: &App, by: &Principal) -> Result<Vec<ApiKey>> {
    by.require_admin()?;
    let mut conn = app.store.read().await?;
    Ok(store::list(&mut conn).await?)
}

#[tracing::instrument(name = "keys.revoke", skip_all, fields(key = by.key_id, id))]
pub async fn revoke(app: &App, by: &Principal, id: i64) -> Result<ApiKey> {
    by.require_admin()?;
    let mut tx = app.store.begin().await?;
    if !store::revoke(&mut tx, id, app.now()).await? {
        return Err(AppError::not_found("key", id));
    }
    let record = store::get(&mut tx, id).await?.ok_or_else(|| AppError::not_found("key", id))?;
    tx.commit().await?;
    app.live_keys.forget(id);
    Ok(record)
}

/// Whether any key exists (the first start creates an admin key when none does).
pub async fn any_exist(app: &App) -> Result<bool> {
    let mut conn = app.store.read().await?;
    Ok(store::count(&mut conn).await? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_high_entropy_and_within_cakes_limit() {
        let a = new_secret();
        let b = new_secret();
        assert!(a.starts_with(KEY_PREFIX) && a.len() <= 50, "{a}");
        assert_ne!(a, b);
        assert!(a[KEY_PREFIX.len()..].bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn lifetimes_read_days_hours_and_minutes() {
        assert_eq!(parse_lifetime("90d").unwrap(), SignedDuration::from_hours(90 * 24));
        assert_eq!(parse_lifetime("2h").unwrap(), SignedDuration::from_hours(2));
        for bad in ["", "d", "0d", "-1d", "5w", "1.5h", "\u{cc583}", "5\u{e9}", "\u{e9}d"] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }
}
