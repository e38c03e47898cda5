//! Archiving: one engine behind the VICIdial dialect, the native read of archived leads and the
//! `leadline archive` / `leadline dearchive` commands.
//!
//! A batch acts on one of two targets: Leadline's own store (`leads` ⇄ `leads_archive`, one
//! transaction per batch, a history row for every lead that leaves or comes back) or a live
//! VICIdial database (`vicidial_list` ⇄ `vicidial_list_archive`, where safety comes from the order
//! of the steps, since MyISAM cannot roll back).

use leadline_core::access::LeadScope;
use leadline_core::archive::{missing_ids, Batch, BatchError, Counts, Direction};
use leadline_core::history::Api;
use leadline_core::lead::Lead;
use leadline_store::archive::{self as store, Table};
use leadline_store::vicidial::{self, Side, VicidialDb};

use crate::{App, AppError, Principal, Result};

/// Where archiving happens.
#[derive(Debug, Clone, Default)]
pub enum Target {
    /// Leadline's own lead table.
    #[default]
    Leadline,
    /// A VICIdial database's `vicidial_list`.
    Vicidial(VicidialDb),
}

impl Target {
    /// A VICIdial database at `url` (`mysql://USER@HOST/DB`), connected when first used, so the
    /// configuration can name it before any runtime runs. The error says what is wrong with
    /// the URL.
    pub fn vicidial(url: &str, max_connections: u32) -> std::result::Result<Target, String> {
        VicidialDb::connect_lazy(url, max_connections).map(Target::Vicidial).map_err(|e| e.to_string())
    }
}

/// A batch that did not run.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// What was wrong and with which ids; each dialect words it. Nothing was written.
    #[error(transparent)]
    Refused(BatchError),
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<leadline_store::StoreError> for ArchiveError {
    fn from(error: leadline_store::StoreError) -> Self {
        ArchiveError::App(AppError::Store(error))
    }
}

/// Only admin and archiver keys move leads to and from the archive.
pub fn authorize(by: &Principal) -> Result<()> {
    use leadline_core::access::Role;
    match by.role {
        Role::Admin | Role::Archiver => Ok(()),
        _ => {
            Err(AppError::Forbidden(format!("a {} key cannot archive leads; it needs an archiver key", by.role.name())))
        }
    }
}

fn source(direction: Direction) -> (Table, Side) {
    match direction {
        Direction::Archive => (Table::Live, Side::Live),
        Direction::Dearchive => (Table::Archive, Side::Archive),
    }
}

/// Runs one checked batch: the ids must all be where the batch reads from (else
/// `BatchError::MissingIds`, with nothing written), then the steps in order.
#[tracing::instrument(name = "archive.run", skip_all, fields(key = by.key_id, api = api.as_str()))]
pub async fn run(app: &App, target: &Target, by: &Principal, api: Api, batch: &Batch) -> Result<Counts, ArchiveError> {
    authorize(by)?;
    let ids = &batch.lead_ids;
    match target {
        Target::Leadline => {
            let now = app.now();
            let mut tx = app.store.begin().await?;
            let found = store::found_for_update(&mut tx, source(batch.direction).0, ids).await?;
            missing_ids(batch, &found).map_err(ArchiveError::Refused)?;
            let (counts, moved, action) = match batch.direction {
                Direction::Archive => {
                    let (counts, moved) =
                        store::archive(&mut tx, ids, (batch.insert, batch.update, batch.delete), now).await?;
                    (counts, moved, "archived")
                }
                Direction::Dearchive => {
                    let (counts, moved) = store::dearchive(&mut tx, ids, (batch.insert, batch.delete), now).await?;
                    (counts, moved, "dearchived")
                }
            };
            store::record_history(&mut tx, &moved, now, by.actor(api), action).await?;
            tx.commit().await?;
            Ok(counts)
        }
        Target::Vicidial(db) => {
            let found = db.found(source(batch.direction).1, ids).await?;
            missing_ids(batch, &found).map_err(ArchiveError::Refused)?;
            Ok(match batch.direction {
                Direction::Archive => db.archive(ids, (batch.insert, batch.update, batch.delete)).await?,
                Direction::Dearchive => db.dearchive(ids, (batch.insert, batch.delete)).await?,
            })
        }
    }
}

/// An archived lead of Leadline's store, for a key that could read it when it was live.
#[tracing::instrument(name = "archive.get", skip_all, fields(key = by.key_id, lead = id))]
pub async fn get(app: &App, by: &Principal, id: i64) -> Result<Lead> {
    let mut conn = app.store.read().await?;
    let lead = store::get(&mut conn, id).await?.ok_or_else(|| AppError::not_found("archived lead", id))?;
    let visible = match by.role.lead_scope() {
        LeadScope::All => true,
        LeadScope::Campaigns(ids) => lead.campaign_id.is_some_and(|c| ids.contains(&c)),
        // Sold leads are never archived, so no buyer has an archived lead.
        LeadScope::BoughtBy(_) => false,
    };
    if visible {
        Ok(lead)
    } else {
        Err(AppError::not_found("archived lead", id))
    }
}

/// Which leads a selected run picks, on either target.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Not changed for this many seconds (Leadline: `updated_at`; VICIdial: `modify_date`).
    pub older_than_seconds: Option<i64>,
    /// A campaign: Leadline's numeric campaign id, or VICIdial's campaign id.
    pub campaign: Option<String>,
    /// Leadline: the last disposition; VICIdial: `status`.
    pub status: Option<String>,
}

impl Selection {
    fn leadline(&self, app: &App) -> Result<store::Selection> {
        let campaign_id = self
            .campaign
            .as_deref()
            .map(|c| c.parse::<i64>().map_err(|_| AppError::invalid("campaign", format!("`{c}` is not a campaign id"))))
            .transpose()?;
        let changed_before = self
            .older_than_seconds
            .map(|s| {
                app.now()
                    .checked_sub(jiff::SignedDuration::from_secs(s))
                    .map_err(|_| AppError::invalid("older_than", "reaches before the earliest time there is"))
            })
            .transpose()?;
        Ok(store::Selection { changed_before, campaign_id, status: self.status.clone() })
    }

    fn vicidial(&self) -> vicidial::Selection {
        vicidial::Selection {
            unmodified_for_seconds: self.older_than_seconds,
            campaign: self.campaign.clone(),
            status: self.status.clone(),
        }
    }
}

/// How many leads a selected run would read (the live table to archive, the archive to
/// dearchive), for a progress bar.
#[tracing::instrument(name = "archive.count", skip_all, fields(direction = ?direction))]
pub async fn count(app: &App, target: &Target, direction: Direction, selection: &Selection) -> Result<i64> {
    Ok(match target {
        Target::Leadline => {
            let mut conn = app.store.read().await?;
            store::count(&mut conn, source(direction).0, &selection.leadline(app)?).await?
        }
        Target::Vicidial(db) => db.count(source(direction).1, &selection.vicidial()).await?,
    })
}

/// The next ids of a selected run, above `after`.
#[tracing::instrument(name = "archive.select_page", skip_all, fields(direction = ?direction, after, limit))]
pub async fn select_page(
    app: &App,
    target: &Target,
    direction: Direction,
    selection: &Selection,
    after: i64,
    limit: i64,
) -> Result<Vec<i64>> {
    Ok(match target {
        Target::Leadline => {
            let mut conn = app.store.read().await?;
            store::select_page(&mut conn, source(direction).0, &selection.leadline(app)?, after, limit).await?
        }
        Target::Vicidial(db) => db.select_page(source(direction).1, &selection.vicidial(), after, limit).await?,
    })
}

/// Where each of `ids` is now: (in the table the direction reads from, in the other one).
#[tracing::instrument(name = "archive.locate", skip_all, fields(direction = ?direction, ids = ids.len()))]
pub async fn locate(app: &App, target: &Target, direction: Direction, ids: &[i64]) -> Result<(Vec<i64>, Vec<i64>)> {
    let (table, side) = source(direction);
    let other_table = if table == Table::Live { Table::Archive } else { Table::Live };
    Ok(match target {
        Target::Leadline => {
            let mut conn = app.store.read().await?;
            (store::found(&mut conn, table, ids).await?, store::found(&mut conn, other_table, ids).await?)
        }
        Target::Vicidial(db) => {
            let other = if side == Side::Live { Side::Archive } else { Side::Live };
            (db.found(side, ids).await?, db.found(other, ids).await?)
        }
    })
}
