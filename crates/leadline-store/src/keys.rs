//! API keys. Only a hash of each secret is stored.

use crate::{from_micros, micros, Cells, Exec, Result, Sql, SqlArg, StoreError};
use jiff::Timestamp;
use leadline_core::access::ApiKey;

#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    pub name: &'a str,
    pub prefix: &'a str,
    pub secret_hash: &'a str,
    pub role: &'a str,
    pub buyer_id: Option<i64>,
    pub campaign_ids: &'a [i64],
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

const COLUMNS: &str = "id, name, prefix, role, buyer_id, campaign_ids, created_at, expires_at, revoked_at";

fn read(row: &impl Cells) -> Result<ApiKey> {
    let opt_time = |column: &str| -> Result<Option<Timestamp>> {
        row.opt_int(column)?.map(|v| from_micros(column, v)).transpose()
    };
    Ok(ApiKey {
        id: row.int("id")?,
        name: row.text("name")?,
        prefix: row.text("prefix")?,
        role: row.text("role")?,
        buyer_id: row.opt_int("buyer_id")?,
        campaign_ids: serde_json::from_str(&row.text("campaign_ids")?)
            .map_err(|e| StoreError::Corrupt(format!("api_keys.campaign_ids: {e}")))?,
        created_at: from_micros("created_at", row.int("created_at")?)?,
        expires_at: opt_time("expires_at")?,
        revoked_at: opt_time("revoked_at")?,
    })
}

pub async fn insert(conn: &mut impl Exec, key: &NewKey<'_>) -> Result<i64> {
    let sql = Sql::fixed(
        "INSERT INTO api_keys (name, prefix, secret_hash, role, buyer_id, campaign_ids, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        crate::args![
            key.name,
            key.prefix,
            key.secret_hash,
            key.role,
            key.buyer_id,
            serde_json::to_string(key.campaign_ids).expect("ids serialize"),
            micros(key.created_at),
            key.expires_at.map(micros),
        ],
    );
    conn.one_row(&sql).await?.int("id")
}

/// The key whose secret hashes to this, with the stored hash (for a constant-time comparison),
/// looked up where the store reads fastest: see [`Store::look_up`](crate::Store::look_up).
pub struct ByHash<'a>(pub &'a str);

impl crate::LookUp for ByHash<'_> {
    type Output = Option<(ApiKey, String)>;
    type Error = StoreError;

    async fn run(&self, conn: &mut impl Exec) -> Result<Self::Output> {
        find_by_hash(conn, self.0).await
    }
}

/// The key whose secret hashes to `secret_hash`, with the stored hash for a constant-time
/// comparison by the caller.
pub async fn find_by_hash(conn: &mut impl Exec, secret_hash: &str) -> Result<Option<(ApiKey, String)>> {
    let sql = Sql::fixed(
        &format!("SELECT {COLUMNS}, secret_hash FROM api_keys WHERE secret_hash = $1"),
        [SqlArg::Text(Some(secret_hash.into()))],
    );
    match conn.optional_row(&sql).await? {
        Some(row) => Ok(Some((read(&row)?, row.text("secret_hash")?))),
        None => Ok(None),
    }
}

pub async fn get(conn: &mut impl Exec, id: i64) -> Result<Option<ApiKey>> {
    let sql = Sql::fixed(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"), crate::args![id]);
    conn.optional_row(&sql).await?.as_ref().map(read).transpose()
}

pub async fn list(conn: &mut impl Exec) -> Result<Vec<ApiKey>> {
    let rows = conn.all_rows(&Sql::new(format!("SELECT {COLUMNS} FROM api_keys ORDER BY id"))).await?;
    rows.iter().map(read).collect()
}

/// Marks a key revoked (keeping the first revocation time); false if there is no such key.
pub async fn revoke(conn: &mut impl Exec, id: i64, at: Timestamp) -> Result<bool> {
    let sql = Sql::fixed(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
        crate::args![micros(at), id],
    );
    Ok(conn.run(&sql).await? == 1)
}

pub async fn count(conn: &mut impl Exec) -> Result<i64> {
    conn.one_row(&Sql::new("SELECT COUNT(*) AS n FROM api_keys")).await?.int("n")
}
