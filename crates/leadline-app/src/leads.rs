//! Leads: create, read, list, change with optimistic concurrency, history.

use jiff::Timestamp;
use leadline_core::access::LeadScope;
use leadline_core::catalog::collection;
use leadline_core::history::{Api, Changes, HistoryEntry};
use leadline_core::lead::columns::{self, Cell};
use leadline_core::lead::{draw_ref, Lead, LeadInput, REF_RANDOM_LEN};
use leadline_store::leads::{self as store, LeadFilter, NewHistory};
use leadline_store::{Constraint, Exec, StoreError};

use crate::{App, AppError, Page, Principal, Result};

/// How often a change without `If-Match` is retried when another writer got there first.
const RETRIES: usize = 5;

/// A fresh ref. Its clock part reads the system clock, not the app's: it only places the lead
/// in the ref index (see [`draw_ref`]).
pub(crate) fn new_ref() -> String {
    let mut bytes = [0u8; REF_RANDOM_LEN];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    draw_ref(Timestamp::now(), bytes)
}

/// Whether the caller may see this lead at all. Leads out of scope are reported as missing, so
/// a key cannot learn which ids exist outside what it may see.
async fn visible(conn: &mut impl Exec, by: &Principal, lead: &Lead) -> Result<bool> {
    Ok(match by.role.lead_scope() {
        LeadScope::All => true,
        LeadScope::Campaigns(ids) => lead.campaign_id.is_some_and(|c| ids.contains(&c)),
        LeadScope::BoughtBy(buyer) => store::bought_by(conn, lead.id, buyer).await?,
    })
}

fn check_write(by: &Principal, campaign_id: Option<i64>) -> Result<()> {
    if by.role.can_write_lead_in(campaign_id) {
        Ok(())
    } else if by.role.lead_scope() == LeadScope::All || by.role.buyer_id().is_some() {
        Err(AppError::Forbidden(format!("a {} key cannot change leads", by.role.name())))
    } else {
        Err(AppError::Forbidden("this dialer key cannot write leads outside its campaigns".into()))
    }
}

/// After a foreign-key refusal: which reference was it? Checked on a fresh connection, since a
/// PostgreSQL transaction is unusable after an error.
async fn missing_reference(app: &App, lead: &Lead) -> Result<AppError> {
    let mut conn = app.store.read().await?;
    for (column, target) in columns::references() {
        if let Cell::Int(Some(id)) = (column.get)(lead) {
            let target = collection(target).expect("lead references name known collections");
            if !leadline_store::catalog::exists(&mut conn, target.table, id).await? {
                return Ok(AppError::invalid(column.name, format!("no {} with id {id}", target.noun)));
            }
        }
    }
    Ok(AppError::Conflict("the lead refers to something that no longer exists".into()))
}

/// Checks that an allocation belongs to the lead's campaign.
async fn check_allocation(conn: &mut impl Exec, lead: &Lead) -> Result<()> {
    if let Some(allocation) = lead.allocation_id {
        let allocations = collection("allocations").expect("known collection");
        if let Some(values) = leadline_store::catalog::get(conn, allocations, allocation).await? {
            let campaign = match values[0] {
                leadline_core::catalog::SqlValue::Int(c) => Some(c),
                _ => None,
            };
            if lead.campaign_id.is_none() || campaign != lead.campaign_id {
                return Err(AppError::invalid(
                    "allocation_id",
                    format!("allocation {allocation} belongs to campaign {}, not the lead's", campaign.unwrap_or(0)),
                ));
            }
        }
    }
    Ok(())
}

#[tracing::instrument(name = "leads.create", skip_all, fields(key = by.key_id, api = api.as_str(), lead = tracing::field::Empty))]
pub async fn create(app: &App, by: &Principal, api: Api, input: LeadInput) -> Result<Lead> {
    let campaign = input.campaign_id.flatten();
    check_write(by, campaign)?;
    let now = app.now();
    let mut lead = Lead::create(new_ref(), input, now)?;
    let mut tx = app.store.begin().await?;
    check_allocation(&mut tx, &lead).await?;
    match insert_new(&mut tx, &mut lead).await {
        Err(AppError::Store(StoreError::ForeignKey(_))) => {
            drop(tx);
            return Err(missing_reference(app, &lead).await?);
        }
        other => other?,
    }
    store::record_history(&mut tx, lead.id, now, by.actor(api), "create", &Changes::between(None, &lead)).await?;
    tx.commit().await?;
    tracing::Span::current().record("lead", lead.id);
    Ok(lead)
}

/// Inserts a new lead inside the caller's transaction, drawing its ref again while the drawn one
/// is taken (at ten million leads one draw in a hundred thousand collides). Sets the lead's id. A
/// foreign-key refusal comes back as the store error, for the caller to explain.
pub(crate) async fn insert_new(tx: &mut impl leadline_store::Exec, lead: &mut Lead) -> Result<()> {
    lead.id = loop {
        let inserted = store::insert(tx, lead).await.map_err(|e| insert_refusal(e, lead.id))?;
        match inserted {
            Some(id) => break id,
            None => lead.lead_ref = new_ref(),
        }
    };
    Ok(())
}

/// What a refused lead insert means to the caller.
fn insert_refusal(error: StoreError, id: i64) -> AppError {
    match error {
        StoreError::Unique { constraint: Constraint::LeadExternalId, .. } => external_id_taken(),
        StoreError::Unique { constraint: Constraint::PrimaryKey, .. } => {
            AppError::Conflict(format!("a lead with id {id} already exists"))
        }
        other => other.into(),
    }
}

fn external_id_taken() -> AppError {
    AppError::Conflict("another lead in this campaign already has this external_id".into())
}

/// Creates a lead inside the caller's transaction, for use cases that write more beside it
/// (a CRM lead with its new company and contact). The caller commits.
pub async fn create_in(tx: &mut impl Exec, app: &App, by: &Principal, api: Api, input: LeadInput) -> Result<Lead> {
    check_write(by, input.campaign_id.flatten())?;
    let now = app.now();
    let mut lead = Lead::create(new_ref(), input, now)?;
    check_allocation(tx, &lead).await?;
    match insert_new(tx, &mut lead).await {
        Err(AppError::Store(StoreError::ForeignKey(_))) => return Err(missing_reference(app, &lead).await?),
        other => other?,
    }
    store::record_history(tx, lead.id, now, by.actor(api), "create", &Changes::between(None, &lead)).await?;
    Ok(lead)
}

#[tracing::instrument(name = "leads.get", skip_all, fields(key = by.key_id, lead = id))]
pub async fn get(app: &App, by: &Principal, id: i64) -> Result<Lead> {
    let mut conn = app.store.read().await?;
    match store::get(&mut conn, id).await? {
        Some(lead) if visible(&mut conn, by, &lead).await? => Ok(lead),
        _ => Err(AppError::not_found("lead", id)),
    }
}

/// Changes a lead. With `if_match`, the change applies only to that version (else 412-style
/// [`AppError::StaleVersion`]); without it, a concurrent writer's change is re-read and the
/// input re-applied on top, never overwritten.
#[tracing::instrument(name = "leads.change", skip_all, fields(key = by.key_id, api = api.as_str(), lead = id))]
pub async fn change(
    app: &App,
    by: &Principal,
    api: Api,
    id: i64,
    input: LeadInput,
    if_match: Option<i64>,
) -> Result<Lead> {
    for _ in 0..RETRIES {
        let now = app.now();
        let mut tx = app.store.begin().await?;
        let current = match store::get_for_update(&mut tx, id).await? {
            Some(lead) if visible(&mut tx, by, &lead).await? => lead,
            _ => return Err(AppError::not_found("lead", id)),
        };
        check_write(by, current.campaign_id)?;
        if let Some(given) = if_match {
            if given != current.version {
                return Err(AppError::StaleVersion { given, current: current.version });
            }
        }
        let (next, changes) = current.change(input.clone(), now)?;
        if changes.is_empty() {
            return Ok(current);
        }
        check_write(by, next.campaign_id)?;
        check_allocation(&mut tx, &next).await?;
        let phones_changed = changes.get("phones").is_some();
        let history = NewHistory { at: now, actor: by.actor(api), action: "update", changes: &changes };
        match store::update(&mut tx, &current, &next, phones_changed, Some(&history)).await {
            Ok(true) => {
                tx.commit().await?;
                return Ok(next);
            }
            Ok(false) => {
                // Someone else committed a change between our read and our write.
                if let Some(given) = if_match {
                    return Err(AppError::StaleVersion { given, current: given + 1 });
                }
            }
            Err(StoreError::Unique { constraint: Constraint::LeadExternalId, .. }) => return Err(external_id_taken()),
            Err(StoreError::ForeignKey(_)) => {
                drop(tx);
                return Err(missing_reference(app, &next).await?);
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(AppError::Conflict("the lead kept changing under this update; try again".into()))
}

/// Lists leads the caller may see, narrowed by `filter` (whose scope is replaced by the caller's).
#[tracing::instrument(name = "leads.list", skip_all, fields(key = by.key_id))]
pub async fn list(app: &App, by: &Principal, mut filter: LeadFilter) -> Result<Page<Lead>> {
    filter.scope = by.role.lead_scope();
    let mut conn = app.store.read().await?;
    let leads = store::list(&mut conn, &filter).await?;
    Ok(Page::new(leads, filter.limit, |l| l.id))
}

/// A lead's history, oldest first, for a key that may see the lead; a buyer key reads only the
/// entries that concern it (see [`HistoryEntry::concerns_buyer`]).
#[tracing::instrument(name = "leads.history", skip_all, fields(key = by.key_id, lead = id))]
pub async fn history(app: &App, by: &Principal, id: i64, after: Option<i64>, limit: i64) -> Result<Page<HistoryEntry>> {
    get(app, by, id).await?;
    let mut conn = app.store.read().await?;
    let Some(buyer) = by.role.buyer_id() else {
        let entries = store::history(&mut conn, id, after, limit).await?;
        return Ok(Page::new(entries, limit, |e| e.id));
    };
    // A buyer reads only the entries that concern it. Entries are read `limit` at a time until
    // the page is full or the history ends, so a page is short only at the end, and its cursor
    // (the last entry kept) resumes after everything already passed over.
    let own_sales = store::sales_to(&mut conn, id, buyer).await?;
    let mut kept = Vec::new();
    let mut cursor = after;
    loop {
        let batch = store::history(&mut conn, id, cursor, limit).await?;
        let ended = (batch.len() as i64) < limit;
        cursor = batch.last().map(|e| e.id).or(cursor);
        for entry in batch {
            if entry.concerns_buyer(&own_sales) {
                kept.push(entry);
                if kept.len() as i64 >= limit {
                    return Ok(Page::new(kept, limit, |e| e.id));
                }
            }
        }
        if ended {
            return Ok(Page::new(kept, limit, |e| e.id));
        }
    }
}
