//! Signing credentials for APIs whose clients sign each request with a shared secret (iVvy's
//! `X-Api-Authorization: IWS <access key>:<HMAC>`).
//!
//! An HMAC can only be checked by someone holding the secret, so unlike a bearer key a signing
//! secret cannot be kept as a one-way hash. Leadline keeps none: a credential's secret is
//! derived when needed as HMAC-SHA256(server signing key, access key), and only the public access
//! key is stored. The server signing key comes from configuration, never from the database, so a
//! copy of the database alone reveals no secret. A credential belongs to an API key and shares its
//! role, expiry and revocation.

use hmac::{Hmac, Mac};
use leadline_core::access::Role;
use leadline_store::{crm as store, keys as key_store, StoreError};
use sha2::Sha256;

use crate::{App, AppError, Principal, Result};

const ACCESS_KEY_PREFIX: &str = "ivk_";
/// Shortest server signing key accepted, in bytes.
pub const MIN_SERVER_KEY_LEN: usize = 32;

/// The server's signing key, from configuration.
#[derive(Clone)]
pub struct ServerKey(Vec<u8>);

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(…)")
    }
}

impl ServerKey {
    pub fn new(text: &str) -> std::result::Result<ServerKey, String> {
        if text.len() < MIN_SERVER_KEY_LEN {
            return Err(format!(
                "the iVvy signing key must be at least {MIN_SERVER_KEY_LEN} characters of random text"
            ));
        }
        Ok(ServerKey(text.as_bytes().to_vec()))
    }

    /// The signing secret of an access key.
    pub fn secret_for(&self, access_key: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(b"leadline ivvy signing secret v1:");
        mac.update(access_key.as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new credential: the access key (public) and its secret, shown once.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Credential {
    pub key_id: i64,
    pub access_key: String,
    pub secret: String,
}

/// Issues a signing credential for an API key, ending any it had before.
#[tracing::instrument(name = "signing.issue", skip_all, fields(key = by.key_id, for_key = key_id))]
pub async fn issue(app: &App, by: &Principal, server: &ServerKey, key_id: i64) -> Result<Credential> {
    by.require_admin()?;
    let mut random = [0u8; 12];
    getrandom::fill(&mut random).expect("the operating system's random source works");
    let access_key = format!("{ACCESS_KEY_PREFIX}{}", hex(&random));
    let mut tx = app.store.begin().await?;
    let key = key_store::get(&mut tx, key_id).await?.ok_or_else(|| AppError::not_found("key", key_id))?;
    if key.revoked_at.is_some() {
        return Err(AppError::Conflict(format!("key {key_id} is revoked")));
    }
    store::delete_credentials(&mut tx, key_id).await?;
    store::insert_credential(&mut tx, &access_key, key_id, app.now()).await?;
    tx.commit().await?;
    let secret = server.secret_for(&access_key);
    Ok(Credential { key_id, access_key, secret })
}

/// The caller behind an access key, and the secret its requests are signed with.
#[tracing::instrument(name = "signing.authenticate", skip_all)]
pub async fn authenticate(app: &App, server: &ServerKey, access_key: &str) -> Result<(Principal, String)> {
    let unknown = || AppError::Unauthorized("unknown API key".into());
    if !access_key.starts_with(ACCESS_KEY_PREFIX) || access_key.len() > 64 {
        return Err(unknown());
    }
    let mut conn = app.store.read().await?;
    let key_id = store::credential_key(&mut conn, access_key).await?.ok_or_else(unknown)?;
    let record = key_store::get(&mut conn, key_id).await?.ok_or_else(unknown)?;
    if record.revoked_at.is_some() {
        return Err(AppError::Unauthorized("this API key has been revoked".into()));
    }
    if record.expires_at.is_some_and(|at| at <= app.now()) {
        return Err(AppError::Unauthorized("this API key has expired".into()));
    }
    let role = Role::from_parts(&record.role, record.buyer_id, record.campaign_ids)
        .map_err(|e| StoreError::Corrupt(format!("api key {}: {e}", record.id)))?;
    Ok((Principal { key_id: Some(record.id), role }, server.secret_for(access_key)))
}

/// Whether this is the first time a signature is seen within `window` of now. Every node on
/// the database shares the record, so a request captured and replayed to another node is
/// refused too.
#[tracing::instrument(name = "signing.first_sighting", skip_all)]
pub async fn first_sighting(app: &App, signature: &str, window: jiff::SignedDuration) -> Result<bool> {
    let now = app.now();
    // Twice the window: a request may be dated up to one window ahead as well as behind.
    let forget_before = now.checked_sub(window * 2).unwrap_or(now);
    let mut tx = app.store.begin().await?;
    let first = store::first_sighting(&mut tx, signature, now, forget_before).await?;
    tx.commit().await?;
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_depend_on_the_server_key_and_the_access_key() {
        let a = ServerKey::new(&"a".repeat(32)).unwrap();
        let b = ServerKey::new(&"b".repeat(32)).unwrap();
        assert_eq!(a.secret_for("ivk_1"), a.secret_for("ivk_1"));
        assert_ne!(a.secret_for("ivk_1"), a.secret_for("ivk_2"));
        assert_ne!(a.secret_for("ivk_1"), b.secret_for("ivk_1"));
        assert_eq!(a.secret_for("ivk_1").len(), 64);
        assert!(ServerKey::new("short").is_err());
        assert_eq!(format!("{a:?}"), "ServerKey(…)");
    }
}
