//! Dialer use cases: loading and updating campaign leads (what Noojee's CampaignAPI does),
//! dispositions and their actions, and the dial queue (lease the next lead, release it).

use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use leadline_core::dialer::{
    apply_disposition, dnc_forms, is_dialable, parse_callback, phone_country, DialerError, DialerRecord, Given,
    PhoneCountry, SideEffect,
};
use leadline_core::history::{Api, Changes};
use leadline_core::lead::Lead;
use leadline_core::schedule::Schedule;
use leadline_store::dialer::{self as store, Setup, Template};
use leadline_store::leads::{self as lead_store, NewHistory};
use leadline_store::{Constraint, Exec, StoreError, Unit};
use serde_json::json;

use crate::leads::{insert_new, new_ref};
use crate::{App, AppError, Principal, Result};

/// The campaign a load or update names: all three must exist and belong together.
#[derive(Debug, Clone, Copy, Default)]
pub struct CampaignIds {
    pub template_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub allocation_id: Option<i64>,
}

#[derive(Clone)]
struct Campaign {
    template: Arc<Template>,
    campaign_id: i64,
    allocation_id: i64,
    country: Option<&'static PhoneCountry>,
}

fn campaign(setup: &Setup, ids: CampaignIds) -> Result<Campaign> {
    let template_id = ids.template_id.ok_or(DialerError::NoTemplate)?;
    let template = setup.templates.get(&template_id).ok_or(DialerError::NoTemplate)?;
    let campaign_id = ids.campaign_id.ok_or(DialerError::NoCampaign)?;
    if setup.campaign_templates.get(&campaign_id) != Some(&template_id) {
        return Err(DialerError::NoCampaign.into());
    }
    let allocation_id = ids.allocation_id.ok_or(DialerError::NoAllocation)?;
    if setup.allocation_campaigns.get(&allocation_id) != Some(&campaign_id) {
        return Err(DialerError::NoAllocation.into());
    }
    let country = template.phone_country.as_deref().and_then(phone_country);
    Ok(Campaign { template: Arc::clone(template), campaign_id, allocation_id, country })
}

/// The campaign a request names, in the node's set-up. A miss is checked against the
/// database's set-up before it is refused, since another node may have just created it.
async fn find_campaign(app: &App, ids: CampaignIds) -> Result<(Arc<Setup>, Campaign)> {
    let setup = app.setup.current(&app.store).await?;
    if let Ok(c) = campaign(&setup, ids) {
        return Ok((setup, c));
    }
    let setup = app.setup.newer_than(&app.store, setup.revision).await?;
    let c = campaign(&setup, ids)?;
    Ok((setup, c))
}

/// Whether `by` may load or change leads of `campaign_id`: a dialer key only in its own campaigns.
pub fn check_campaign(by: &Principal, campaign_id: Option<i64>) -> Result<()> {
    if by.role.can_write_lead_in(campaign_id) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!("a {} key cannot load or change leads of this campaign", by.role.name())))
    }
}

/// The contact hours a record names (or the lead's, or the template's), and its zone.
fn resolve_hours(
    setup: &Setup,
    record: &DialerRecord,
    current: Option<i64>,
    template: &Template,
) -> Result<(Option<i64>, TimeZone)> {
    let id = match &record.contact_hours {
        Some(Given::Set(name)) => Some(
            *setup.contact_hours_named.get(name).ok_or_else(|| DialerError::UnknownContactHours(name.to_string()))?,
        ),
        _ => current.or(template.contact_hours_id),
    };
    let zone = id.and_then(|id| setup.contact_hours.get(&id)).map(|s| s.zone().clone()).unwrap_or(TimeZone::UTC);
    Ok((id, zone))
}

fn phone_strings(lead: &Lead) -> Vec<String> {
    lead.phones.iter().map(|p| p.as_str().to_string()).collect()
}

/// The first of `phones` on the system-wide or the campaign's do-not-call list, in any of the
/// ways it may have been written there.
async fn on_dnc(tx: &mut impl Exec, c: &Campaign, phones: &[String]) -> Result<Option<String>> {
    for phone in phones {
        if store::dnc_listed(tx, c.campaign_id, &dnc_forms(phone, c.country)).await?.is_some() {
            return Ok(Some(phone.clone()));
        }
    }
    Ok(None)
}

/// Looks up and applies a disposition code; keeping it keeps the current one (and fires
/// nothing). Returns the side effects to carry out.
fn dispose(
    setup: &Setup,
    template_id: i64,
    lead: &mut Lead,
    given: &Given<String>,
    now: Timestamp,
) -> Result<Vec<SideEffect>> {
    let Given::Set(code) = given else {
        return if lead.disposition.is_some() { Ok(Vec::new()) } else { Err(DialerError::NoDispositionToKeep.into()) };
    };
    let disposition = setup
        .dispositions
        .get(&(template_id, code.trim().to_string()))
        .ok_or_else(|| DialerError::UnknownDisposition(code.to_string()))?;
    Ok(apply_disposition(lead, disposition, now))
}

fn allocation_gone(allocation_id: i64, what: &str) -> AppError {
    AppError::Conflict(format!("the disposition {what} allocation {allocation_id}, which no longer exists"))
}

/// Who carries out a change's side effects, under which set-up, and when.
struct Acting<'a> {
    setup: &'a Setup,
    by: &'a Principal,
    api: Api,
    now: Timestamp,
}

/// Carries out side effects inside the transaction: DNC rows, copies, webhooks in the outbox.
async fn carry_out(tx: &mut impl Exec, acting: &Acting<'_>, lead: &Lead, effects: Vec<SideEffect>) -> Result<()> {
    let Acting { setup, by, api, now } = *acting;
    for effect in effects {
        match effect {
            SideEffect::AddDnc(phones) => {
                for phone in phones {
                    store::add_dnc(tx, &phone).await?;
                }
            }
            SideEffect::CopyTo(allocation_id) => {
                let campaign_id = *setup
                    .allocation_campaigns
                    .get(&allocation_id)
                    .ok_or_else(|| allocation_gone(allocation_id, "copies to"))?;
                let mut copy = lead.clone();
                copy.id = 0;
                copy.lead_ref = new_ref();
                copy.allocation_id = Some(allocation_id);
                copy.campaign_id = Some(campaign_id);
                // An external id is unique within a campaign: a copy into the same campaign has none.
                if lead.campaign_id == Some(campaign_id) {
                    copy.external_id = None;
                }
                copy.disposition = None;
                copy.callback_at = None;
                copy.closed = false;
                copy.dial_count = 0;
                copy.last_dialed_at = None;
                copy.lock_holder = None;
                copy.lock_until = None;
                copy.version = 1;
                copy.created_at = now;
                copy.updated_at = now;
                insert_new(tx, &mut copy).await?;
                let mut changes = Changes::between(None, &copy);
                changes.insert("copied_from", serde_json::Value::Null, json!(lead.id));
                lead_store::record_history(tx, copy.id, now, by.actor(api), "copy", &changes).await?;
            }
            SideEffect::Webhook(url) => {
                let body = json!({"event": "disposition", "disposition": lead.disposition, "lead": lead}).to_string();
                store::enqueue_webhook(tx, lead.id, &url, &body, now).await?;
            }
        }
    }
    Ok(())
}

/// A move to another allocation takes the lead into that allocation's campaign.
fn follow_allocation(setup: &Setup, lead: &mut Lead) -> Result<()> {
    if let Some(allocation) = lead.allocation_id {
        lead.campaign_id =
            Some(*setup.allocation_campaigns.get(&allocation).ok_or_else(|| allocation_gone(allocation, "moves to"))?);
    }
    Ok(())
}

/// What a dialer write does, as it travels to the transaction that does it.
#[derive(Clone)]
enum Write {
    Insert { allow_duplicates: bool },
    Update { external_id: String },
}

/// Everything a dialer write needs inside its transaction, owned, so it can be handed to
/// SQLite's writer thread.
#[derive(Clone)]
struct Job {
    by: Principal,
    api: Api,
    setup: Arc<Setup>,
    campaign: Campaign,
    record: DialerRecord,
    write: Write,
    now: Timestamp,
}

/// Runs a dialer write in one transaction: on SQLite's direct writer when the database is a
/// SQLite file, else in a sqlx transaction. When the node's set-up turns out to be stale, the
/// write is retried once with a fresh one.
async fn write(
    app: &App,
    by: &Principal,
    api: Api,
    ids: CampaignIds,
    record: &DialerRecord,
    write: Write,
) -> Result<Lead> {
    let (mut setup, mut campaign) = find_campaign(app, ids).await?;
    for _ in 0..2 {
        let job = Job {
            by: by.clone(),
            api,
            setup: setup.clone(),
            campaign,
            record: record.clone(),
            write: write.clone(),
            now: app.now(),
        };
        if let Some(lead) = app.store.write(job).await? {
            return Ok(lead);
        }
        setup = app.setup.newer_than(&app.store, setup.revision).await?;
        campaign = self::campaign(&setup, ids)?;
    }
    Err(set_up_kept_changing())
}

fn set_up_kept_changing() -> AppError {
    AppError::Conflict("the campaign set-up kept changing during the write; retry".into())
}

impl Unit for Job {
    type Output = Option<Lead>;
    type Error = AppError;

    /// The write itself; None (nothing written) when the set-up changed since it was read.
    async fn run(self, tx: &mut impl Exec) -> Result<Option<Lead>> {
        if store::setup_revision(tx).await? != self.setup.revision {
            return Ok(None);
        }
        match &self.write {
            Write::Insert { allow_duplicates } => self.insert(tx, *allow_duplicates).await.map(Some),
            Write::Update { external_id } => self.update(tx, external_id).await.map(Some),
        }
    }
}

impl Job {
    async fn insert(&self, tx: &mut impl Exec, allow_duplicates: bool) -> Result<Lead> {
        let Job { by, api, setup, campaign: c, record, now, .. } = self;
        let (hours, zone) = resolve_hours(setup, record, None, &c.template)?;
        let mut input = record.to_input(&c.template.fields, c.country, None)?;
        let phones = input.phones.clone().unwrap_or_default();
        if phones.is_empty() {
            return Err(DialerError::NoPhone.into());
        }
        if let Some(phone) = on_dnc(tx, c, &phones).await? {
            return Err(DialerError::Dnc(phone).into());
        }
        if !allow_duplicates {
            if let Some(phone) = store::phone_in_campaign(tx, c.campaign_id, &phones, None).await? {
                return Err(DialerError::DuplicatePhone(phone).into());
            }
        }
        if let Some(external) = &record.external_id {
            if store::lead_by_external_id(tx, c.campaign_id, external).await?.is_some() {
                return Err(DialerError::ExternalIdTaken(external.clone()).into());
            }
        }
        input.campaign_id = Some(Some(c.campaign_id));
        input.allocation_id = Some(Some(c.allocation_id));
        input.contact_hours_id = Some(hours);
        if let Some(Given::Set(text)) = &record.callback {
            input.callback_at = Some(Some(parse_callback(text, &zone)?));
        }
        let mut lead = Lead::create(new_ref(), input, *now)?;
        let effects = match &record.disposition {
            Some(code) => dispose(setup, c.template.id, &mut lead, code, *now)?,
            None => Vec::new(),
        };
        follow_allocation(setup, &mut lead)?;
        match insert_new(tx, &mut lead).await {
            Err(AppError::Conflict(_)) if record.external_id.is_some() => {
                return Err(DialerError::ExternalIdTaken(record.external_id.clone().unwrap_or_default()).into())
            }
            other => other?,
        }
        lead_store::record_history(tx, lead.id, *now, by.actor(*api), "create", &Changes::between(None, &lead)).await?;
        carry_out(tx, &Acting { setup, by, api: *api, now: *now }, &lead, effects).await?;
        Ok(lead)
    }

    async fn update(&self, tx: &mut impl Exec, external: &str) -> Result<Lead> {
        let Job { by, api, setup, campaign: c, record, now, .. } = self;
        let now = *now;
        let current =
            store::lead_by_external_id(tx, c.campaign_id, external).await?.ok_or(DialerError::LeadNotFound)?;
        if let (Some(holder), Some(until)) = (&current.lock_holder, current.lock_until) {
            if until > now {
                return Err(DialerError::Leased { holder: holder.clone(), until }.into());
            }
        }
        let mut input = record.to_input(&c.template.fields, c.country, Some(&current))?;
        input.external_id = None;
        let (hours, zone) = resolve_hours(setup, record, current.contact_hours_id, &c.template)?;
        input.contact_hours_id = Some(hours);
        if let Some(Given::Set(text)) = &record.callback {
            input.callback_at = Some(Some(parse_callback(text, &zone)?));
        }
        let (mut next, _) = current.change(input, now)?;
        if next.phones.is_empty() {
            return Err(DialerError::NoPhone.into());
        }
        let added: Vec<String> =
            phone_strings(&next).into_iter().filter(|p| !phone_strings(&current).contains(p)).collect();
        if let Some(phone) = on_dnc(tx, c, &added).await? {
            return Err(DialerError::Dnc(phone).into());
        }
        let effects = match &record.disposition {
            Some(code) => dispose(setup, c.template.id, &mut next, code, now)?,
            None => Vec::new(),
        };
        follow_allocation(setup, &mut next)?;
        let changes = Changes::between(Some(&current), &next);
        if changes.is_empty() && effects.is_empty() {
            return Ok(current);
        }
        next.version = current.version + 1;
        next.updated_at = now;
        let phones_changed = changes.get("phones").is_some();
        let action = if matches!(record.disposition, Some(Given::Set(_))) { "disposition" } else { "update" };
        let history = NewHistory { at: now, actor: by.actor(*api), action, changes: &changes };
        match lead_store::update(tx, &current, &next, phones_changed, Some(&history)).await {
            Ok(true) => {}
            Ok(false) => return Err(DialerError::StaleVersion.into()),
            Err(StoreError::Unique { constraint: Constraint::LeadExternalId, .. }) => {
                return Err(DialerError::ExternalIdTaken(external.to_string()).into())
            }
            Err(other) => return Err(other.into()),
        }
        carry_out(tx, &Acting { setup, by, api: *api, now }, &next, effects).await?;
        Ok(next)
    }
}

/// Loads a new lead into a campaign allocation.
#[tracing::instrument(name = "dialer.insert", skip_all, fields(key = by.key_id, api = api.as_str(), campaign = ?ids.campaign_id, allocation = ?ids.allocation_id))]
pub async fn insert(
    app: &App,
    by: &Principal,
    api: Api,
    ids: CampaignIds,
    record: &DialerRecord,
    allow_duplicates: bool,
) -> Result<Lead> {
    check_campaign(by, ids.campaign_id)?;
    if let Some(field) = record.kept_field() {
        return Err(DialerError::KeepOnInsert(field).into());
    }
    write(app, by, api, ids, record, Write::Insert { allow_duplicates }).await
}

/// Updates the lead with the record's external id in the campaign; only the fields given change.
#[tracing::instrument(name = "dialer.update", skip_all, fields(key = by.key_id, api = api.as_str(), campaign = ?ids.campaign_id, allocation = ?ids.allocation_id))]
pub async fn update(app: &App, by: &Principal, api: Api, ids: CampaignIds, record: &DialerRecord) -> Result<Lead> {
    check_campaign(by, ids.campaign_id)?;
    let external_id =
        record.external_id.clone().ok_or_else(|| DialerError::NoExternalId(record.names.external_id.into()))?;
    write(app, by, api, ids, record, Write::Update { external_id }).await
}

/// Leases the next dialable lead of an allocation to `holder` for `lease`: open, not held,
/// callback due, inside its contact hours; lower priority number first, then due callbacks,
/// then first come first served. None when nothing is dialable now.
#[tracing::instrument(name = "dialer.next_lead", skip_all, fields(key = by.key_id, allocation = allocation_id))]
pub async fn next_lead(
    app: &App,
    by: &Principal,
    allocation_id: i64,
    holder: &str,
    lease: SignedDuration,
) -> Result<Option<Lead>> {
    if holder.trim().is_empty() || holder.len() > 100 {
        return Err(AppError::invalid("holder", "must be 1 to 100 characters naming who dials the lead"));
    }
    if holder.contains('\0') {
        return Err(leadline_core::DomainError::holds_nul("holder").into());
    }
    if lease < SignedDuration::from_secs(1) || lease > SignedDuration::from_hours(24) {
        return Err(AppError::invalid("lease_seconds", "must be between 1 and 86400"));
    }
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let campaign_id = store::allocation_campaign(&mut tx, allocation_id)
        .await?
        .ok_or_else(|| AppError::not_found("allocation", allocation_id))?;
    check_campaign(by, Some(campaign_id))?;
    // Most of the time the first few candidates are dialable; a wider look is needed only when
    // many sit outside their contact hours.
    let mut schedules: std::collections::HashMap<i64, Option<Schedule>> = std::collections::HashMap::new();
    for batch in [8, 512] {
        let candidates = store::dial_candidates(&mut tx, allocation_id, now, batch).await?;
        let exhausted = (candidates.len() as i64) < batch;
        for lead in candidates {
            let hours = match lead.contact_hours_id {
                Some(id) => {
                    if let std::collections::hash_map::Entry::Vacant(slot) = schedules.entry(id) {
                        slot.insert(store::contact_hours(&mut tx, id).await?);
                    }
                    schedules[&id].as_ref()
                }
                None => None,
            };
            if !is_dialable(&lead, hours, now) {
                continue;
            }
            let mut next = lead.clone();
            next.lock_holder = Some(holder.to_string());
            next.lock_until = now.checked_add(lease).ok();
            next.dial_count += 1;
            next.last_dialed_at = Some(now);
            next.version += 1;
            next.updated_at = now;
            let changes = Changes::between(Some(&lead), &next);
            let history = NewHistory { at: now, actor: by.actor(Api::Native), action: "lease", changes: &changes };
            if !lead_store::update(&mut tx, &lead, &next, false, Some(&history)).await? {
                continue;
            }
            tx.commit().await?;
            return Ok(Some(next));
        }
        if exhausted {
            break;
        }
    }
    Ok(None)
}

async fn load_for_dialer(conn: &mut impl Exec, by: &Principal, lead_id: i64) -> Result<Lead> {
    let lead = lead_store::get_for_update(conn, lead_id).await?.ok_or_else(|| AppError::not_found("lead", lead_id))?;
    if !by.role.can_write_lead_in(lead.campaign_id) {
        return Err(if by.role.campaign_ids().is_empty() {
            AppError::Forbidden(format!("a {} key cannot dial leads", by.role.name()))
        } else {
            AppError::not_found("lead", lead_id)
        });
    }
    Ok(lead)
}

/// Gives a leased lead back without a disposition.
#[tracing::instrument(name = "dialer.release", skip_all, fields(key = by.key_id, lead = lead_id))]
pub async fn release(app: &App, by: &Principal, lead_id: i64, holder: &str) -> Result<Lead> {
    let now = app.now();
    let mut tx = app.store.begin().await?;
    let lead = load_for_dialer(&mut tx, by, lead_id).await?;
    match (&lead.lock_holder, lead.lock_until) {
        (Some(h), Some(until)) if h == holder && until > now => {}
        _ => return Err(AppError::Conflict(format!("lead {lead_id} is not held by `{holder}`"))),
    }
    let mut next = lead.clone();
    next.lock_holder = None;
    next.lock_until = None;
    next.version += 1;
    next.updated_at = now;
    let changes = Changes::between(Some(&lead), &next);
    let history = NewHistory { at: now, actor: by.actor(Api::Native), action: "release", changes: &changes };
    if !lead_store::update(&mut tx, &lead, &next, false, Some(&history)).await? {
        return Err(DialerError::StaleVersion.into());
    }
    tx.commit().await?;
    Ok(next)
}

/// Gives a lead a disposition through the native API: the same rules and actions as a dialer
/// update with `njDisposition`. A lead held by someone else is refused.
#[tracing::instrument(name = "dialer.set_disposition", skip_all, fields(key = by.key_id, lead = lead_id, code))]
pub async fn set_disposition(
    app: &App,
    by: &Principal,
    lead_id: i64,
    code: &str,
    holder: Option<&str>,
) -> Result<Lead> {
    let mut setup = app.setup.current(&app.store).await?;
    for _ in 0..3 {
        let now = app.now();
        let mut tx = app.store.begin().await?;
        if store::setup_revision(&mut tx).await? != setup.revision {
            drop(tx);
            setup = app.setup.newer_than(&app.store, setup.revision).await?;
            continue;
        }
        let lead = load_for_dialer(&mut tx, by, lead_id).await?;
        if let (Some(h), Some(until)) = (&lead.lock_holder, lead.lock_until) {
            if until > now && holder != Some(h.as_str()) {
                return Err(DialerError::Leased { holder: h.clone(), until }.into());
            }
        }
        let campaign = lead
            .campaign_id
            .ok_or_else(|| AppError::invalid("lead", "the lead is in no campaign, so it has no dispositions"))?;
        let template_id =
            *setup.campaign_templates.get(&campaign).ok_or_else(|| AppError::not_found("campaign", campaign))?;
        let mut next = lead.clone();
        let effects = dispose(&setup, template_id, &mut next, &Given::Set(code.to_string()), now)?;
        follow_allocation(&setup, &mut next)?;
        next.version += 1;
        next.updated_at = now;
        let changes = Changes::between(Some(&lead), &next);
        let history = NewHistory { at: now, actor: by.actor(Api::Native), action: "disposition", changes: &changes };
        if !lead_store::update(&mut tx, &lead, &next, false, Some(&history)).await? {
            return Err(DialerError::StaleVersion.into());
        }
        carry_out(&mut tx, &Acting { setup: &setup, by, api: Api::Native, now }, &next, effects).await?;
        tx.commit().await?;
        return Ok(next);
    }
    Err(set_up_kept_changing())
}
