//! What the dialer reads and writes beyond a lead's row: campaign set-up, DNC and duplicate
//! look-ups, the dial queue, and the webhook outbox.

use std::collections::HashMap;
use std::sync::Arc;

use crate::{args, from_micros, micros, Backend, Cells, Exec, Result, Row, Sql, SqlArg, StoreError};
use jiff::Timestamp;
use leadline_core::catalog::{DispositionAction, TemplateField};
use leadline_core::dialer::Disposition;
use leadline_core::lead::Lead;
use leadline_core::schedule::{Schedule, Window};

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

const TEMPLATES: &str = "SELECT id, fields, contact_hours_id, phone_country FROM campaign_templates";

pub async fn template(conn: &mut impl Exec, id: i64) -> Result<Option<Template>> {
    let row = conn.optional_row(&Sql::fixed(&format!("{TEMPLATES} WHERE id = $1"), args![id])).await?;
    row.as_ref().map(template_from).transpose()
}

fn template_from(row: &Row) -> Result<Template> {
    Ok(Template {
        id: row.int("id")?,
        fields: serde_json::from_str(&row.text("fields")?).map_err(|e| corrupt("campaign_templates.fields", e))?,
        contact_hours_id: row.opt_int("contact_hours_id")?,
        phone_country: row.opt_text("phone_country")?,
    })
}

/// The template of a campaign.
pub async fn campaign_template(conn: &mut impl Exec, campaign_id: i64) -> Result<Option<i64>> {
    let sql = Sql::fixed("SELECT template_id FROM campaigns WHERE id = $1", args![campaign_id]);
    conn.optional_row(&sql).await?.map(|row| row.int("template_id")).transpose()
}

/// The campaign of an allocation.
pub async fn allocation_campaign(conn: &mut impl Exec, allocation_id: i64) -> Result<Option<i64>> {
    let sql = Sql::fixed("SELECT campaign_id FROM allocations WHERE id = $1", args![allocation_id]);
    conn.optional_row(&sql).await?.map(|row| row.int("campaign_id")).transpose()
}

fn disposition_from(row: &Row) -> Result<Disposition> {
    let actions: Vec<DispositionAction> =
        serde_json::from_str(&row.text("actions")?).map_err(|e| corrupt("dispositions.actions", e))?;
    Ok(Disposition { code: row.text("code")?, closes_lead: row.opt_flag("closes_lead")?.unwrap_or(false), actions })
}

pub async fn contact_hours(conn: &mut impl Exec, id: i64) -> Result<Option<Schedule>> {
    let sql = Sql::fixed("SELECT timezone, schedule FROM contact_hours WHERE id = $1", args![id]);
    conn.optional_row(&sql).await?.as_ref().map(schedule_from).transpose()
}

fn schedule_from(row: &Row) -> Result<Schedule> {
    let zone = row.text("timezone")?;
    let windows = row.text("schedule")?;
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
pub async fn setup(conn: &mut impl Exec) -> Result<Setup> {
    let mut setup = Setup { revision: setup_revision(conn).await?, ..Setup::default() };
    for row in conn.all_rows(&Sql::new(TEMPLATES)).await? {
        let template = template_from(&row)?;
        setup.templates.insert(template.id, Arc::new(template));
    }
    for row in conn.all_rows(&Sql::new("SELECT id, template_id FROM campaigns")).await? {
        setup.campaign_templates.insert(row.int("id")?, row.int("template_id")?);
    }
    for row in conn.all_rows(&Sql::new("SELECT id, campaign_id FROM allocations")).await? {
        setup.allocation_campaigns.insert(row.int("id")?, row.int("campaign_id")?);
    }
    let hours = Sql::new("SELECT id, name, timezone, schedule FROM contact_hours ORDER BY id DESC");
    for row in conn.all_rows(&hours).await? {
        let id = row.int("id")?;
        setup.contact_hours.insert(id, schedule_from(&row)?);
        // Read highest id first, so the lowest id of a shared name is the one left.
        setup.contact_hours_named.insert(row.text("name")?, id);
    }
    for row in conn.all_rows(&Sql::new("SELECT template_id, code, closes_lead, actions FROM dispositions")).await? {
        let disposition = disposition_from(&row)?;
        setup.dispositions.insert((row.int("template_id")?, disposition.code.clone()), disposition);
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
    conn: &mut impl Exec,
    allocation_id: i64,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<Lead>> {
    let backend = conn.backend();
    let lock = if backend == Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    let sql = format!(
        "{} WHERE allocation_id = $1 AND closed = $2 AND (lock_until IS NULL OR lock_until <= $3) \
         AND (callback_at IS NULL OR callback_at <= $3) \
         ORDER BY priority, CASE WHEN callback_at IS NULL THEN 1 ELSE 0 END, id LIMIT $4{lock}",
        crate::leads::select()
    );
    let sql = Sql::fixed(&sql, args![allocation_id, false, micros(now), limit]);
    conn.all_rows(&sql).await?.iter().map(crate::leads::read).collect()
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
    conn: &mut impl Exec,
    now: Timestamp,
    claim_until: Timestamp,
    token: &str,
    limit: i64,
) -> Result<Vec<Delivery>> {
    let backend = conn.backend();
    let lock = if backend == Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    let due = Sql::fixed(
        &format!(
            "SELECT id, lead_id, url, body, attempts FROM webhook_outbox \
             WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 \
             AND (claimed_until IS NULL OR claimed_until <= $1) ORDER BY id LIMIT $2{lock}"
        ),
        args![micros(now), limit],
    );
    let rows = conn.all_rows(&due).await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let delivery = Delivery {
            id: row.int("id")?,
            lead_id: row.int("lead_id")?,
            url: row.text("url")?,
            body: row.text("body")?,
            attempts: row.int("attempts")?,
        };
        let claim = Sql::fixed(
            "UPDATE webhook_outbox SET claimed_until = $1, claim_token = $2 WHERE id = $3",
            args![micros(claim_until), token, delivery.id],
        );
        conn.run(&claim).await?;
        claimed.push(delivery);
    }
    Ok(claimed)
}

/// Records a delivery as made, if it is still under the claim `token`; false when another node
/// has taken it over since (then nothing is written).
pub async fn webhook_delivered(conn: &mut impl Exec, id: i64, token: &str, at: Timestamp) -> Result<bool> {
    let sql = Sql::fixed(
        "UPDATE webhook_outbox SET delivered_at = $1, attempts = attempts + 1, claimed_until = NULL, claim_token = NULL \
         WHERE id = $2 AND claim_token = $3",
        args![micros(at), id, token],
    );
    Ok(conn.run(&sql).await? == 1)
}

/// Records a failed attempt, if the delivery is still under the claim `token`: retried at
/// `retry_at`, or given up on when that is None. False when another node has taken it over.
pub async fn webhook_failed(
    conn: &mut impl Exec,
    id: i64,
    token: &str,
    error: &str,
    retry_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<bool> {
    let sql = Sql::fixed(
        "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = $1, claimed_until = NULL, claim_token = NULL, \
         next_attempt_at = COALESCE($2, next_attempt_at), failed_at = CASE WHEN $2 IS NULL THEN $3 ELSE NULL END \
         WHERE id = $4 AND claim_token = $5",
        args![error, retry_at.map(micros), micros(now), id, token],
    );
    Ok(conn.run(&sql).await? == 1)
}

/// Deliveries of a lead, for tests and operators: (id, delivered_at, attempts, failed).
pub async fn webhooks_of(conn: &mut impl Exec, lead_id: i64) -> Result<Vec<(i64, Option<Timestamp>, i64, bool)>> {
    let sql = Sql::fixed(
        "SELECT id, delivered_at, attempts, failed_at FROM webhook_outbox WHERE lead_id = $1 ORDER BY id",
        args![lead_id],
    );
    conn.all_rows(&sql)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.int("id")?,
                r.opt_int("delivered_at")?.map(|v| from_micros("delivered_at", v)).transpose()?,
                r.int("attempts")?,
                r.opt_int("failed_at")?.is_some(),
            ))
        })
        .collect()
}

/// The shared secret called `name`, made from `fresh` by the first node that asks.
pub async fn shared_secret(conn: &mut impl Exec, name: &str, fresh: &str) -> Result<String> {
    let insert = Sql::fixed(
        "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        args![name, fresh],
    );
    conn.run(&insert).await?;
    conn.one_row(&Sql::fixed("SELECT value FROM server_secrets WHERE name = $1", args![name])).await?.text("value")
}
