//! What the dialer reads and writes beyond a lead's row: campaign set-up, DNC and duplicate
//! look-ups, the dial queue, and the webhook outbox.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use leadline_core::catalog::{DispositionAction, TemplateField};
use leadline_core::dialer::Disposition;
use leadline_core::lead::Lead;
use leadline_core::schedule::{Schedule, Window};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{from_micros, micros, Backend, Cells, Conn, Exec, Result, Sql, SqlArg, StoreError};

/// A campaign template as the dialer uses it.
#[derive(Debug, Clone)]
pub struct Template {
    pub id: i64,
    pub fields: Vec<TemplateField>,
    pub contact_hours_id: Option<i64>,
    pub phone_country: Option<String>,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub async fn template(conn: &mut Conn, id: i64) -> Result<Option<Template>> {
    let row = sqlx::query("SELECT id, fields, contact_hours_id, phone_country FROM campaign_templates WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(template_from).transpose()
}

fn template_from(row: &AnyRow) -> Result<Template> {
    let fields: String = row.try_get("fields")?;
    Ok(Template {
        id: row.try_get("id")?,
        fields: serde_json::from_str(&fields).map_err(|e| corrupt("campaign_templates.fields", e))?,
        contact_hours_id: row.try_get("contact_hours_id")?,
        phone_country: row.try_get("phone_country")?,
    })
}

/// The template of a campaign.
pub async fn campaign_template(conn: &mut Conn, campaign_id: i64) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT template_id FROM campaigns WHERE id = $1")
        .bind(campaign_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// The campaign of an allocation.
pub async fn allocation_campaign(conn: &mut Conn, allocation_id: i64) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT campaign_id FROM allocations WHERE id = $1")
        .bind(allocation_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

fn disposition_from(row: &AnyRow) -> Result<Disposition> {
    let actions: String = row.try_get("actions")?;
    let actions: Vec<DispositionAction> =
        serde_json::from_str(&actions).map_err(|e| corrupt("dispositions.actions", e))?;
    Ok(Disposition {
        code: row.try_get("code")?,
        closes_lead: crate::get_bool(row, "closes_lead")?.unwrap_or(false),
        actions,
    })
}

pub async fn contact_hours(conn: &mut Conn, id: i64) -> Result<Option<Schedule>> {
    let row = sqlx::query("SELECT timezone, schedule FROM contact_hours WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(schedule_from).transpose()
}

fn schedule_from(row: &AnyRow) -> Result<Schedule> {
    let zone: String = row.try_get("timezone")?;
    let windows: String = row.try_get("schedule")?;
    let windows: Vec<Window> = serde_json::from_str(&windows).map_err(|e| corrupt("contact_hours.schedule", e))?;
    Schedule::new(&zone, &windows).map_err(|e| corrupt("contact_hours", e))
}

/// The dialer's set-up as a node keeps it in memory: every template, campaign, allocation,
/// contact-hours record and disposition, read at one set-up revision (see [`setup_revision`]).
#[derive(Debug, Default)]
pub struct Setup {
    pub revision: i64,
    /// Shared, so a request holds its template without copying it.
    pub templates: HashMap<i64, Arc<Template>>,
    /// Campaign id to its template id.
    pub campaign_templates: HashMap<i64, i64>,
    /// Allocation id to its campaign id.
    pub allocation_campaigns: HashMap<i64, i64>,
    pub contact_hours: HashMap<i64, Schedule>,
    /// A contact-hours name to the lowest id that bears it.
    pub contact_hours_named: HashMap<String, i64>,
    /// (template id, code) to the disposition.
    pub dispositions: HashMap<(i64, String), Disposition>,
}

/// The set-up revision: moved forward by every change to the set-up tables and to API keys
/// (triggers of migration 11).
pub async fn setup_revision(conn: &mut impl Exec) -> Result<i64> {
    conn.optional_row(&Sql::new("SELECT revision FROM setup_revision WHERE id = 1"))
        .await?
        .ok_or_else(|| StoreError::Corrupt("setup_revision has no row".into()))?
        .int("revision")
}

/// Reads the whole set-up. The revision is read first, so a change that lands while the tables
/// are read makes the snapshot look older than it is, never newer.
pub async fn setup(conn: &mut Conn) -> Result<Setup> {
    let mut setup = Setup { revision: setup_revision(conn).await?, ..Setup::default() };
    for row in sqlx::query("SELECT id, fields, contact_hours_id, phone_country FROM campaign_templates")
        .fetch_all(&mut *conn)
        .await?
    {
        let template = template_from(&row)?;
        setup.templates.insert(template.id, Arc::new(template));
    }
    for row in sqlx::query("SELECT id, template_id FROM campaigns").fetch_all(&mut *conn).await? {
        setup.campaign_templates.insert(row.try_get("id")?, row.try_get("template_id")?);
    }
    for row in sqlx::query("SELECT id, campaign_id FROM allocations").fetch_all(&mut *conn).await? {
        setup.allocation_campaigns.insert(row.try_get("id")?, row.try_get("campaign_id")?);
    }
    for row in sqlx::query("SELECT id, name, timezone, schedule FROM contact_hours ORDER BY id DESC")
        .fetch_all(&mut *conn)
        .await?
    {
        let id: i64 = row.try_get("id")?;
        setup.contact_hours.insert(id, schedule_from(&row)?);
        // Read highest id first, so the lowest id of a shared name is the one left.
        setup.contact_hours_named.insert(row.try_get("name")?, id);
    }
    for row in
        sqlx::query("SELECT template_id, code, closes_lead, actions FROM dispositions").fetch_all(&mut *conn).await?
    {
        let disposition = disposition_from(&row)?;
        setup.dispositions.insert((row.try_get("template_id")?, disposition.code.clone()), disposition);
    }
    Ok(setup)
}

pub async fn lead_by_external_id(conn: &mut impl Exec, campaign_id: i64, external_id: &str) -> Result<Option<Lead>> {
    let lock = if conn.backend() == Backend::Postgres { " FOR UPDATE" } else { "" };
    let mut sql = Sql::new(format!("{} WHERE campaign_id = ", crate::leads::select()));
    sql.bind(SqlArg::Int(Some(campaign_id)))
        .push(" AND external_id = ")
        .bind(SqlArg::Text(Some(external_id.to_string())))
        .push(lock);
    conn.optional_row(&sql).await?.as_ref().map(crate::leads::read).transpose()
}

/// The first of `phones` on the system-wide list or this campaign's list.
pub async fn dnc_listed(conn: &mut impl Exec, campaign_id: i64, phones: &[String]) -> Result<Option<String>> {
    for phone in phones {
        let sql = Sql::fixed(
            "SELECT 1 AS listed FROM dnc WHERE phone = $1 AND (campaign_id IS NULL OR campaign_id = $2) LIMIT 1",
            [SqlArg::Text(Some(phone.clone())), SqlArg::Int(Some(campaign_id))],
        );
        if conn.optional_row(&sql).await?.is_some() {
            return Ok(Some(phone.clone()));
        }
    }
    Ok(None)
}

/// Puts a number on the system-wide do-not-call list (no-op when it is there already).
pub async fn add_dnc(conn: &mut impl Exec, phone: &str) -> Result<()> {
    let sql = Sql::fixed(
        "INSERT INTO dnc (phone, campaign_id) VALUES ($1, NULL) ON CONFLICT DO NOTHING",
        [SqlArg::Text(Some(phone.into()))],
    );
    conn.run(&sql).await?;
    Ok(())
}

/// The first of `phones` another lead of the campaign already has.
pub async fn phone_in_campaign(
    conn: &mut impl Exec,
    campaign_id: i64,
    phones: &[String],
    except: Option<i64>,
) -> Result<Option<String>> {
    for phone in phones {
        let sql = Sql::fixed(
            "SELECT 1 AS taken FROM lead_phones p JOIN leads l ON l.id = p.lead_id \
             WHERE p.phone = $1 AND l.campaign_id = $2 AND l.id <> $3 LIMIT 1",
            [SqlArg::Text(Some(phone.clone())), SqlArg::Int(Some(campaign_id)), SqlArg::Int(Some(except.unwrap_or(0)))],
        );
        if conn.optional_row(&sql).await?.is_some() {
            return Ok(Some(phone.clone()));
        }
    }
    Ok(None)
}

/// Open, unheld, due leads of an allocation in dialing order, locked on PostgreSQL so that two
/// nodes claiming at once take different leads (`SKIP LOCKED`).
pub async fn dial_candidates(
    conn: &mut Conn,
    backend: Backend,
    allocation_id: i64,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<Lead>> {
    let lock = if backend == Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    let sql = format!(
        "{} WHERE allocation_id = $1 AND closed = $2 AND (lock_until IS NULL OR lock_until <= $3) \
         AND (callback_at IS NULL OR callback_at <= $3) \
         ORDER BY priority, CASE WHEN callback_at IS NULL THEN 1 ELSE 0 END, id LIMIT $4{lock}",
        crate::leads::select()
    );
    let rows =
        sqlx::query(&sql).bind(allocation_id).bind(false).bind(micros(now)).bind(limit).fetch_all(&mut *conn).await?;
    rows.iter().map(crate::leads::read).collect()
}

/// A webhook waiting in the outbox.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: i64,
    pub lead_id: i64,
    pub url: String,
    pub body: String,
    pub attempts: i64,
}

pub async fn enqueue_webhook(conn: &mut impl Exec, lead_id: i64, url: &str, body: &str, now: Timestamp) -> Result<i64> {
    let sql = Sql::fixed(
        "INSERT INTO webhook_outbox (lead_id, url, body, created_at, attempts, next_attempt_at) \
         VALUES ($1, $2, $3, $4, 0, $4) RETURNING id",
        [
            SqlArg::Int(Some(lead_id)),
            SqlArg::Text(Some(url.into())),
            SqlArg::Text(Some(body.into())),
            SqlArg::Int(Some(micros(now))),
        ],
    );
    conn.optional_row(&sql).await?.ok_or_else(|| StoreError::Corrupt("an insert returned no id".into()))?.int("id")
}

/// Claims up to `limit` due deliveries until `claim_until` under `token`; a claim that lapses
/// (the node died, or took longer than it claimed for) makes the row due again.
pub async fn claim_webhooks(
    conn: &mut Conn,
    backend: Backend,
    now: Timestamp,
    claim_until: Timestamp,
    token: &str,
    limit: i64,
) -> Result<Vec<Delivery>> {
    let lock = if backend == Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    let rows = sqlx::query(&format!(
        "SELECT id, lead_id, url, body, attempts FROM webhook_outbox \
         WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 \
         AND (claimed_until IS NULL OR claimed_until <= $1) ORDER BY id LIMIT $2{lock}"
    ))
    .bind(micros(now))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let delivery = Delivery {
            id: row.try_get("id")?,
            lead_id: row.try_get("lead_id")?,
            url: row.try_get("url")?,
            body: row.try_get("body")?,
            attempts: row.try_get("attempts")?,
        };
        sqlx::query("UPDATE webhook_outbox SET claimed_until = $1, claim_token = $2 WHERE id = $3")
            .bind(micros(claim_until))
            .bind(token)
            .bind(delivery.id)
            .execute(&mut *conn)
            .await?;
        claimed.push(delivery);
    }
    Ok(claimed)
}

/// Records a delivery as made, if it is still under the claim `token`; false when another node
/// has taken it over since (then nothing is written).
pub async fn webhook_delivered(conn: &mut Conn, id: i64, token: &str, at: Timestamp) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE webhook_outbox SET delivered_at = $1, attempts = attempts + 1, claimed_until = NULL, claim_token = NULL \
         WHERE id = $2 AND claim_token = $3",
    )
    .bind(micros(at))
    .bind(id)
    .bind(token)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed attempt, if the delivery is still under the claim `token`: retried at
/// `retry_at`, or given up on when that is None. False when another node has taken it over.
pub async fn webhook_failed(
    conn: &mut Conn,
    id: i64,
    token: &str,
    error: &str,
    retry_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = $1, claimed_until = NULL, claim_token = NULL, \
         next_attempt_at = COALESCE($2, next_attempt_at), failed_at = CASE WHEN $2 IS NULL THEN $3 ELSE NULL END \
         WHERE id = $4 AND claim_token = $5",
    )
    .bind(error)
    .bind(retry_at.map(micros))
    .bind(micros(now))
    .bind(id)
    .bind(token)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deliveries of a lead, for tests and operators: (id, delivered_at, attempts, failed).
pub async fn webhooks_of(conn: &mut Conn, lead_id: i64) -> Result<Vec<(i64, Option<Timestamp>, i64, bool)>> {
    let rows =
        sqlx::query("SELECT id, delivered_at, attempts, failed_at FROM webhook_outbox WHERE lead_id = $1 ORDER BY id")
            .bind(lead_id)
            .fetch_all(&mut *conn)
            .await?;
    rows.iter()
        .map(|r| {
            let delivered: Option<i64> = r.try_get("delivered_at")?;
            let failed: Option<i64> = r.try_get("failed_at")?;
            Ok((
                r.try_get("id")?,
                delivered.map(|v| from_micros("delivered_at", v)).transpose()?,
                r.try_get("attempts")?,
                failed.is_some(),
            ))
        })
        .collect()
}

/// The shared secret called `name`, made from `fresh` by the first node that asks.
pub async fn shared_secret(conn: &mut Conn, name: &str, fresh: &str) -> Result<String> {
    sqlx::query("INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(name)
        .bind(fresh)
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query("SELECT value FROM server_secrets WHERE name = $1").bind(name).fetch_one(&mut *conn).await?;
    Ok(row.try_get(0)?)
}
