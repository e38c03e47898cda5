//! CRM use cases: add or update a lead with its CRM fields, list leads with filters, and the
//! look-up lists (qualities, industries, sources, types, stages, channels).
//!
//! Leads are written through [`crate::leads::create`] and [`crate::leads::change`], and look-ups
//! through [`crate::catalog`], so the CRM shares every rule, history row and permission with the
//! native API; this module adds only the CRM's own checks in front.

use leadline_core::catalog::{collection, Record, SqlValue};
use leadline_core::crm::{check_add, check_links, Condition, CrmInput, LinkFacts, Links};
use leadline_core::history::Api;
use leadline_core::lead::{Lead, LeadInput};
use leadline_core::DomainError;
use leadline_store::catalog as catalog_store;
use leadline_store::Exec;
use serde_json::{Map, Value};

use crate::{catalog, leads, App, AppError, Principal};

/// A CRM call's failure: every broken rule of the input at once, or a use-case error.
#[derive(Debug)]
pub enum CrmError {
    Invalid(Vec<DomainError>),
    App(AppError),
}

impl From<AppError> for CrmError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Invalid(e) => CrmError::Invalid(vec![crm_field(e)]),
            other => CrmError::App(other),
        }
    }
}

impl From<leadline_store::StoreError> for CrmError {
    fn from(error: leadline_store::StoreError) -> Self {
        CrmError::App(error.into())
    }
}

pub type Result<T, E = CrmError> = std::result::Result<T, E>;

/// Lead field names in CRM words, for errors raised by the shared lead rules.
fn crm_field(mut error: DomainError) -> DomainError {
    let renamed = match error.field.as_str() {
        "quality_id" => "qualityId",
        "industry_id" => "industryId",
        "source_id" => "sourceId",
        "company_id" => "companyId",
        "contact_id" => "contactId",
        "company_lead_contact_id" => "companyLeadContactId",
        "owner_user_id" => "ownerUserId",
        "type_id" => "typeId",
        "subtype_id" => "subtypeId",
        "stage_id" => "stageId",
        "stage_reason_id" => "stageReasonId",
        "channel_id" => "channelId",
        f if f == "fields" || f.starts_with("fields.") => "customFields",
        _ => return error,
    };
    error.field = renamed.to_string();
    error
}

/// The id list (`subtypes` or `reasons`) of a lead type or stage, if it exists.
async fn id_list(conn: &mut impl Exec, table: &str, column: &str, id: Option<i64>) -> Result<Option<Vec<i64>>> {
    let Some(id) = id else { return Ok(None) };
    let Some(list) = catalog_store::json_column(conn, table, column, id).await? else { return Ok(None) };
    Ok(Some(list.as_array().map(|items| items.iter().filter_map(|i| i["id"].as_i64()).collect()).unwrap_or_default()))
}

async fn link_facts(conn: &mut impl Exec, links: &Links) -> Result<LinkFacts> {
    let contact_company = match links.company_lead_contact_id {
        Some(contact) => {
            let contacts = collection("contacts").expect("known collection");
            let company_at = contacts.fields.iter().position(|f| f.name == "company_id").expect("contacts have one");
            catalog_store::get(conn, contacts, contact).await?.map(|values| match values[company_at] {
                SqlValue::Int(company) => Some(company),
                _ => None,
            })
        }
        None => None,
    };
    Ok(LinkFacts {
        subtypes: id_list(conn, "lead_types", "subtypes", links.type_id).await?,
        stage_reasons: id_list(conn, "lead_stages", "reasons", links.stage_id).await?,
        contact_company,
    })
}

fn lead_input(input: CrmInput) -> LeadInput {
    let fields = (!input.custom_fields.is_empty()).then(|| {
        input.custom_fields.into_iter().map(|(id, value)| (id.to_string(), value)).collect::<Map<String, Value>>()
    });
    LeadInput {
        name: input.name.map(Some),
        quality_id: input.quality_id.map(Some),
        industry_id: input.industry_id.map(Some),
        source_id: input.source_id.map(Some),
        company_id: input.company_id.map(Some),
        company_lead_contact_id: input.company_lead_contact_id.map(Some),
        contact_id: input.contact_id.map(Some),
        owner_user_id: input.owner_user_id.map(Some),
        type_id: input.type_id.map(Some),
        subtype_id: input.subtype_id.map(Some),
        stage_id: input.stage_id.map(Some),
        stage_reason_id: input.stage_reason_id.map(Some),
        channel_id: input.channel_id.map(Some),
        description: input.description.map(Some),
        fields,
        ..LeadInput::default()
    }
}

/// Adds a lead (`id` absent) or changes the given fields of lead `id`; returns the lead's id.
///
/// The checks read before the write's own transaction; a catalog object deleted in between is
/// still caught by the write (the store refuses a dangling reference).
#[tracing::instrument(name = "crm.add_or_update", skip_all, fields(key = by.key_id, lead = ?id))]
pub async fn add_or_update(app: &App, by: &Principal, id: Option<i64>, input: CrmInput) -> Result<i64> {
    let current = match id {
        Some(id) => Some(leads::get(app, by, id).await?),
        None => {
            if !by.role.can_write_lead_in(None) {
                return Err(AppError::Forbidden(format!("a {} key cannot add CRM leads", by.role.name())).into());
            }
            None
        }
    };
    let mut errors = if current.is_none() { check_add(&input) } else { Vec::new() };
    let new_objects = parse_new_objects(current.is_some(), &input, &mut errors);
    let mut conn = app.store.read().await.map_err(AppError::from)?;
    for (field, target, ref_id) in input.references() {
        let target = collection(target).expect("CRM references name known collections");
        if !catalog_store::exists(&mut conn, target.table, ref_id).await? {
            errors.push(DomainError::new(field, format!("no {} with id {ref_id}", target.noun)));
        }
    }
    let links = Links::after(current.as_ref(), &input);
    let facts = link_facts(&mut conn, &links).await?;
    errors.extend(check_links(current.is_none(), &input, &links, &facts));
    drop(conn);
    if !errors.is_empty() {
        return Err(CrmError::Invalid(errors));
    }
    let lead: Lead = match (current, new_objects) {
        (None, NewObjects { company: None, contact: None }) => {
            leads::create(app, by, Api::Ivvy, lead_input(input)).await?
        }
        (None, objects) => create_with_objects(app, by, input, objects).await?,
        (Some(current), _) => leads::change(app, by, Api::Ivvy, current.id, lead_input(input), None).await?,
    };
    Ok(lead.id)
}

/// The checked `company` and `contact` objects of an add.
#[derive(Debug, Default)]
struct NewObjects {
    company: Option<Record>,
    contact: Option<Record>,
}

/// Checks the `company` and `contact` objects as catalog objects, adding what is wrong to
/// `errors`. They are taken only when adding a lead.
fn parse_new_objects(updating: bool, input: &CrmInput, errors: &mut Vec<DomainError>) -> NewObjects {
    let mut objects = NewObjects::default();
    for (field, collection_name, object) in
        [("company", "companies", &input.new_company), ("contact", "contacts", &input.new_contact)]
    {
        let Some(object) = object else { continue };
        if updating {
            errors.push(DomainError::new(
                field,
                format!("can only be sent when adding a lead; create the {field} first and send its id"),
            ));
            continue;
        }
        if object.contains_key("company_id") {
            errors.push(DomainError::new(format!("{field}.company_id"), "is set by the lead's company"));
            continue;
        }
        let c = collection(collection_name).expect("known collection");
        match c.parse(object) {
            Ok(record) if field == "company" => objects.company = Some(record),
            Ok(record) => objects.contact = Some(record),
            Err(e) => errors.push(e.within(field)),
        }
    }
    objects
}

/// Adds a lead with its new company and/or contact, all in one transaction.
async fn create_with_objects(app: &App, by: &Principal, mut input: CrmInput, objects: NewObjects) -> Result<Lead> {
    by.require_admin()?;
    let conflict = |noun: &'static str| {
        move |e: leadline_store::StoreError| match e {
            leadline_store::StoreError::Unique { constraint: leadline_store::Constraint::PrimaryKey, .. } => {
                CrmError::App(AppError::Conflict(format!("a {noun} with this id already exists")))
            }
            other => other.into(),
        }
    };
    let mut tx = app.store.begin().await.map_err(AppError::from)?;
    if let Some(company) = &objects.company {
        let companies = collection("companies").expect("known collection");
        let id = catalog_store::insert(&mut tx, companies, company).await.map_err(conflict("company"))?;
        input.company_id = Some(id);
    }
    if let Some(mut contact) = objects.contact {
        let contacts = collection("contacts").expect("known collection");
        let company_at = contacts.fields.iter().position(|f| f.name == "company_id").expect("contacts have one");
        contact.values[company_at] = input.company_id.map(SqlValue::Int).unwrap_or(SqlValue::Null);
        let id = catalog_store::insert(&mut tx, contacts, &contact).await.map_err(conflict("contact"))?;
        if input.company_id.is_some() {
            input.company_lead_contact_id = Some(id);
        } else {
            input.contact_id = Some(id);
        }
    }
    let lead = leads::create_in(&mut tx, app, by, Api::Ivvy, lead_input(input)).await?;
    tx.commit().await?;
    Ok(lead)
}

/// A page of leads and how many match in all.
#[derive(Debug, Clone)]
pub struct LeadPage {
    pub total: i64,
    pub leads: Vec<Lead>,
}

/// Leads the caller may see that match every condition, `per_page` of them from `start`.
#[tracing::instrument(name = "crm.list_leads", skip_all, fields(key = by.key_id, start, per_page))]
pub async fn list_leads(
    app: &App,
    by: &Principal,
    conditions: &[Condition],
    start: i64,
    per_page: i64,
) -> Result<LeadPage, AppError> {
    let mut conn = app.store.read().await?;
    let (total, leads) =
        leadline_store::crm::list_leads(&mut conn, &by.role.lead_scope(), conditions, start, per_page).await?;
    Ok(LeadPage { total, leads })
}

/// The catalog collections the CRM looks up; the look-up calls reach no others.
pub const LOOKUPS: &[&str] =
    &["lead-qualities", "industries", "lead-sources", "lead-types", "lead-stages", "lead-channels"];

fn lookup(name: &str) -> Result<&'static leadline_core::catalog::Collection, AppError> {
    if LOOKUPS.contains(&name) {
        catalog::find(name)
    } else {
        Err(AppError::not_found("look-up list", name))
    }
}

/// A page of a look-up list and how many objects it has in all.
#[derive(Debug, Clone)]
pub struct LookupPage {
    pub total: i64,
    pub items: Vec<Value>,
}

/// A look-up list, `per_page` objects from `start`, in id order. Look-up lists are short, so
/// the whole list is read and the page cut from it.
#[tracing::instrument(name = "crm.list_lookup", skip_all, fields(key = by.key_id, lookup = name, start, per_page))]
pub async fn list_lookup(
    app: &App,
    by: &Principal,
    name: &str,
    start: i64,
    per_page: i64,
) -> Result<LookupPage, AppError> {
    let c = lookup(name)?;
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = catalog::list(app, by, c, &[], after, 1000).await?;
        all.extend(page.items);
        match page.next_cursor {
            Some(cursor) => after = crate::parse_cursor(Some(&cursor))?,
            None => break,
        }
    }
    let total = all.len() as i64;
    let items = all.into_iter().skip(start.max(0) as usize).take(per_page.max(0) as usize).collect();
    Ok(LookupPage { total, items })
}

/// Adds a look-up object, or changes the given fields of the one with `id`. An `id` that does not
/// exist yet is created with that id, so integrations keep their own ids.
#[tracing::instrument(name = "crm.add_or_update_lookup", skip_all, fields(key = by.key_id, lookup = name, id))]
pub async fn add_or_update_lookup(
    app: &App,
    by: &Principal,
    name: &str,
    id: Option<i64>,
    fields: Map<String, Value>,
) -> Result<i64, AppError> {
    let c = lookup(name)?;
    if let Some(id) = id {
        match catalog::patch(app, by, c, id, &fields).await {
            Ok(_) => return Ok(id),
            Err(AppError::NotFound { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    let mut object = fields;
    if let Some(id) = id {
        object.insert("id".into(), Value::from(id));
    }
    let created = catalog::create(app, by, c, &object).await?;
    Ok(created["id"].as_i64().expect("objects show their id"))
}
