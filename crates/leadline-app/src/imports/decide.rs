//! Each row of a batch decided: loaded, or rejected for DNC, a duplicate phone or external id
//! (in the campaign or earlier in the file), or a bad value. The database is asked in bulk, once
//! a batch.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use leadline_core::dialer::{any_dnc_form, dnc_forms};
use leadline_core::import::phone_key;
use leadline_core::lead::Lead;
use leadline_store::imports::{self as store, Checkpoint, Reject};
use leadline_store::Exec;

use super::csv::{record_text, Parsed};
use super::Target;
use crate::Result;

/// Phones and external ids a dry run (or a batch) has seen, as small keys (no text kept), in
/// sets with a fast hash: every row asks them.
#[derive(Default)]
pub(super) struct Seen {
    phones: foldhash::HashSet<u64>,
    external_ids: foldhash::HashSet<u64>,
}

fn text_key(text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// What a batch's rows ask the database: their phones (for DNC and duplicates), their
/// external ids.
struct Wanted<'a> {
    phones: Vec<&'a str>,
    externals: Vec<&'a str>,
}

fn wanted(rows: &[Parsed]) -> Wanted<'_> {
    let mut wanted = Wanted { phones: Vec::new(), externals: Vec::new() };
    for row in rows {
        if let Ok(lead) = &row.lead {
            wanted.phones.extend(lead.phones.iter().map(|p| p.as_str()));
            if let Some(external) = &lead.external_id {
                wanted.externals.push(external);
            }
        }
    }
    wanted
}

/// The DNC numbers to check a batch's phones against: every number on the lists when they are
/// short next to the forms the phones may be listed in (read through once), else those of the
/// forms that probing the lists finds.
async fn dnc_to_check(conn: &mut impl Exec, target: &Target, phones: &[&str]) -> Result<HashSet<String>> {
    // A number in the template's country may be listed in three forms.
    let forms_per_phone = if target.country.is_some() { 3 } else { 1 };
    if let Some(listed) = store::dnc_lists_if_short(conn, target.campaign_id, phones.len() * forms_per_phone).await? {
        return Ok(listed);
    }
    let forms: Vec<String> = phones.iter().flat_map(|phone| dnc_forms(phone, target.country)).collect();
    let forms: Vec<&str> = forms.iter().map(String::as_str).collect();
    Ok(store::dnc_listed(conn, target.campaign_id, &forms).await?)
}

/// What the database answered for a batch.
pub(super) struct Found {
    dnc: HashSet<String>,
    phones_taken: HashSet<String>,
    externals_taken: HashSet<String>,
}

/// Looks a batch's phones and external ids up in bulk on `conn` (inside the batch's
/// transaction for a real run).
pub(super) async fn find(
    conn: &mut impl Exec,
    target: &Target,
    allow_duplicates: bool,
    rows: &[Parsed],
) -> Result<Found> {
    let wanted = wanted(rows);
    Ok(Found {
        dnc: dnc_to_check(conn, target, &wanted.phones).await?,
        phones_taken: if allow_duplicates {
            HashSet::new()
        } else {
            store::phones_in_campaign(conn, target.campaign_id, &wanted.phones).await?
        },
        externals_taken: store::external_ids_in_campaign(conn, target.campaign_id, &wanted.externals).await?,
    })
}

/// Decides each row of a batch from what the look-ups found: load it, or reject it with a
/// reason.
pub(super) fn decide(
    target: &Target,
    allow_duplicates: bool,
    rows: Vec<Parsed>,
    found: &Found,
    seen: &mut Seen,
    counts: &mut Checkpoint,
) -> (Vec<(Lead, i64)>, Vec<Reject>) {
    let mut load = Vec::with_capacity(rows.len());
    let mut rejects = Vec::new();
    for row in rows {
        let reject = |reason: String| Reject { line: row.line as i64, reason, record: record_text(&row.record) };
        let lead = match row.lead {
            Ok(lead) => lead,
            Err(reason) => {
                counts.rejected_invalid += 1;
                rejects.push(reject(reason));
                continue;
            }
        };
        let listed = if found.dnc.is_empty() {
            None
        } else {
            lead.phones.iter().find(|p| any_dnc_form(p.as_str(), target.country, |form| found.dnc.contains(form)))
        };
        if let Some(phone) = listed {
            counts.rejected_dnc += 1;
            rejects.push(reject(format!("phone {phone} is on a do-not-call list")));
            continue;
        }
        if !allow_duplicates {
            if let Some(phone) = lead.phones.iter().find(|p| found.phones_taken.contains(p.as_str())) {
                counts.rejected_duplicate += 1;
                rejects.push(reject(format!("phone {phone} is already on a lead of campaign {}", target.campaign_id)));
                continue;
            }
            if let Some(phone) = lead.phones.iter().find(|p| seen.phones.contains(&phone_key(p.as_str()))) {
                counts.rejected_duplicate += 1;
                rejects.push(reject(format!("phone {phone} is on an earlier row of this file")));
                continue;
            }
        }
        if let Some(external) = &lead.external_id {
            if found.externals_taken.contains(external) {
                counts.rejected_duplicate += 1;
                rejects.push(reject(format!(
                    "external id `{external}` is already on a lead of campaign {}",
                    target.campaign_id
                )));
                continue;
            }
            if !seen.external_ids.insert(text_key(external)) {
                counts.rejected_duplicate += 1;
                rejects.push(reject(format!("external id `{external}` is on an earlier row of this file")));
                continue;
            }
        }
        if !allow_duplicates {
            seen.phones.extend(lead.phones.iter().map(|p| phone_key(p.as_str())));
        }
        counts.loaded += 1;
        load.push((lead, row.line as i64));
    }
    (load, rejects)
}
