//! Reference collections: create, read, list, change, delete, and `apply` of a catalog file.

use leadline_core::access::CatalogScope;
use leadline_core::catalog::{collection, Collection, Kind, Record, SqlValue, COLLECTIONS};
use leadline_core::lead::columns;
use leadline_core::DomainError;
use leadline_store::catalog::{self as store, ListFilter};
use leadline_store::{Constraint, Exec, StoreError};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{App, AppError, Page, Principal, Result};

/// Finds a collection by its URL name.
pub fn find(name: &str) -> Result<&'static Collection> {
    collection(name).ok_or_else(|| AppError::not_found("collection", name))
}

/// The objects of `c` the caller may read; refused when it may read none of them.
fn read_scope(by: &Principal, c: &Collection) -> Result<CatalogScope> {
    match by.role.catalog_scope(c.name) {
        CatalogScope::Denied => Err(AppError::Forbidden(format!("a {} key cannot read {}", by.role.name(), c.name))),
        scope => Ok(scope),
    }
}

/// Refuses references to objects that do not exist, naming the field.
async fn check_references(conn: &mut impl Exec, c: &Collection, record: &Record) -> Result<()> {
    for (field, value) in c.fields.iter().zip(&record.values) {
        if let (Kind::Ref(target), SqlValue::Int(id)) = (field.kind, value) {
            let target = collection(target).expect("references name known collections");
            if !store::exists(conn, target.table, *id).await? {
                return Err(AppError::invalid(field.name, format!("no {} with id {id}", target.noun)));
            }
        }
    }
    Ok(())
}

fn unique_conflict(c: &Collection, error: StoreError) -> AppError {
    match error {
        StoreError::Unique { constraint, .. } => AppError::Conflict(match constraint {
            Constraint::PrimaryKey => format!("a {} with this id already exists", c.noun),
            Constraint::DispositionCode => "this template already has a disposition with this code".into(),
            Constraint::DncPhone => "this number is already on this do-not-call list".into(),
            _ => format!("this {} already exists", c.noun),
        }),
        other => other.into(),
    }
}

#[tracing::instrument(name = "catalog.create", skip_all, fields(key = by.key_id, collection = c.name))]
pub async fn create(app: &App, by: &Principal, c: &'static Collection, object: &Map<String, Value>) -> Result<Value> {
    by.require_admin()?;
    let record = c.parse(object)?;
    let mut tx = app.store.begin().await?;
    check_references(&mut tx, c, &record).await?;
    let id = store::insert(&mut tx, c, &record).await.map_err(|e| unique_conflict(c, e))?;
    tx.commit().await?;
    Ok(c.show(id, &record.values))
}

#[tracing::instrument(name = "catalog.get", skip_all, fields(key = by.key_id, collection = c.name, id))]
pub async fn get(app: &App, by: &Principal, c: &'static Collection, id: i64) -> Result<Value> {
    let scope = read_scope(by, c)?;
    let mut conn = app.store.read().await?;
    // An object outside the key's scope is not found, as a lead outside it is: its id tells
    // nothing.
    let values = store::get_visible(&mut conn, c, id, &scope).await?.ok_or_else(|| AppError::not_found(c.noun, id))?;
    Ok(c.show(id, &values))
}

/// Lists a collection; `filters` are field = value pairs as given in a query string.
#[tracing::instrument(name = "catalog.list", skip_all, fields(key = by.key_id, collection = c.name))]
pub async fn list(
    app: &App,
    by: &Principal,
    c: &'static Collection,
    filters: &[(String, String)],
    after: Option<i64>,
    limit: i64,
) -> Result<Page<Value>> {
    let scope = read_scope(by, c)?;
    let mut equals = Vec::new();
    for (name, text) in filters {
        let field = c.field(name).ok_or_else(|| {
            AppError::invalid(
                name.as_str(),
                format!("{} cannot be filtered by this; filter by a field of a {}", c.name, c.noun),
            )
        })?;
        let value = match field.kind {
            Kind::Ref(_) | Kind::Count => {
                Value::from(text.parse::<i64>().map_err(|_| AppError::invalid(name.as_str(), "must be a number"))?)
            }
            Kind::Bool => Value::from(match text.as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(AppError::invalid(name.as_str(), "must be true or false")),
            }),
            Kind::Schedule | Kind::TemplateFields | Kind::DispositionActions | Kind::IdNameList => {
                return Err(AppError::invalid(name.as_str(), "lists cannot be filtered on"))
            }
            _ => Value::from(text.as_str()),
        };
        equals.push((field, field.kind.parse(&value).map_err(|e| e.within(name))?));
    }
    let mut conn = app.store.read().await?;
    let rows = store::list(&mut conn, c, &ListFilter { equals, scope, after, limit }).await?;
    let items: Vec<Value> = rows.iter().map(|(id, values)| c.show(*id, values)).collect();
    Ok(Page::new(items, limit, |v| v["id"].as_i64().unwrap_or(0)))
}

/// Changes the given fields of an object; the merged object is checked whole.
#[tracing::instrument(name = "catalog.patch", skip_all, fields(key = by.key_id, collection = c.name, id))]
pub async fn patch(
    app: &App,
    by: &Principal,
    c: &'static Collection,
    id: i64,
    changes: &Map<String, Value>,
) -> Result<Value> {
    by.require_admin()?;
    if changes.get("id").is_some_and(|v| v.as_i64() != Some(id)) {
        return Err(AppError::invalid("id", "an object's id cannot be changed"));
    }
    let mut tx = app.store.begin().await?;
    let current = store::get(&mut tx, c, id).await?.ok_or_else(|| AppError::not_found(c.noun, id))?;
    let mut merged = match c.show(id, &current) {
        Value::Object(map) => map,
        _ => unreachable!("objects show as JSON objects"),
    };
    for (key, value) in changes {
        merged.insert(key.clone(), value.clone());
    }
    let record = c.parse(&merged)?;
    check_references(&mut tx, c, &record).await?;
    store::update(&mut tx, c, id, &record).await.map_err(|e| unique_conflict(c, e))?;
    tx.commit().await?;
    Ok(c.show(id, &record.values))
}

/// Deletes an object nothing refers to; otherwise says what still refers to it.
#[tracing::instrument(name = "catalog.delete", skip_all, fields(key = by.key_id, collection = c.name, id))]
pub async fn delete(app: &App, by: &Principal, c: &'static Collection, id: i64) -> Result<()> {
    by.require_admin()?;
    let mut tx = app.store.begin().await?;
    if store::get(&mut tx, c, id).await?.is_none() {
        return Err(AppError::not_found(c.noun, id));
    }
    let mut users = Vec::new();
    let mut referrers: Vec<(&str, &str, &str)> = c.referrers().map(|(rc, f)| (rc.table, f.column, rc.name)).collect();
    referrers.extend(
        columns::references()
            .filter(|(_, target)| *target == c.name)
            .map(|(column, _)| ("leads", column.name, "leads")),
    );
    match c.name {
        "buyer-contracts" => referrers.push(("sales", "buyer_contract_id", "sales")),
        "buyers" => referrers.push(("api_keys", "buyer_id", "API keys")),
        _ => {}
    }
    for (table, column, label) in referrers {
        let n = store::count_references(&mut tx, table, column, id).await?;
        if n > 0 {
            users.push(format!("{n} {label} ({column})"));
        }
    }
    if !users.is_empty() {
        return Err(AppError::Conflict(format!("{} {id} is still used by {}", c.noun, users.join(", "))));
    }
    store::delete(&mut tx, c, id).await.map_err(|e| match e {
        StoreError::ForeignKey(_) => AppError::Conflict(format!("{} {id} is still in use", c.noun)),
        other => other.into(),
    })?;
    tx.commit().await?;
    Ok(())
}

/// What an `apply` did, per collection.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ApplyReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// Upserts a catalog file `{"<collection>": [objects…], …}` by id, in one transaction: all of
/// it or, on the first error (named by collection, index and field), none of it.
#[tracing::instrument(name = "catalog.apply", skip_all, fields(key = by.key_id))]
pub async fn apply(app: &App, by: &Principal, file: &Value) -> Result<ApplyReport> {
    by.require_admin()?;
    let sections =
        file.as_object().ok_or_else(|| AppError::invalid("", "a catalog file is a JSON object of collections"))?;
    for key in sections.keys() {
        if collection(key).is_none() {
            let known: Vec<&str> = COLLECTIONS.iter().map(|c| c.name).collect();
            return Err(AppError::invalid(key.as_str(), format!("unknown collection; known: {}", known.join(", "))));
        }
    }
    let mut report = ApplyReport::default();
    let mut tx = app.store.begin().await?;
    // Parents before children, whatever order the file lists them in.
    for c in COLLECTIONS {
        let Some(section) = sections.get(c.name) else { continue };
        let entries = section.as_array().ok_or_else(|| AppError::invalid(c.name, "must be a list of objects"))?;
        for (index, entry) in entries.iter().enumerate() {
            let at = |e: DomainError| AppError::Invalid(e.within(&format!("{}[{index}]", c.name)));
            let object = entry.as_object().ok_or_else(|| at(DomainError::new("", "must be an object")))?;
            let record = c.parse(object).map_err(at)?;
            let id = record.id.ok_or_else(|| {
                at(DomainError::new("id", "is required in a catalog file, so applying it again finds the same object"))
            })?;
            check_references(&mut tx, c, &record).await.map_err(|e| match e {
                AppError::Invalid(d) => at(d),
                other => other,
            })?;
            match store::get(&mut tx, c, id).await? {
                None => {
                    store::insert(&mut tx, c, &record).await.map_err(|e| match unique_conflict(c, e) {
                        AppError::Conflict(m) => AppError::Conflict(format!("{}[{index}]: {m}", c.name)),
                        other => other,
                    })?;
                    report.created += 1;
                }
                Some(current) if current == record.values => report.unchanged += 1,
                Some(_) => {
                    store::update(&mut tx, c, id, &record).await.map_err(|e| match unique_conflict(c, e) {
                        AppError::Conflict(m) => AppError::Conflict(format!("{}[{index}]: {m}", c.name)),
                        other => other,
                    })?;
                    report.updated += 1;
                }
            }
        }
    }
    tx.commit().await?;
    Ok(report)
}
