//! `serve --demo`: a small catalog and a few leads, loaded idempotently, so every API can be
//! tried on a fresh database at once.

use leadline_app::{catalog, leads, App, Principal};
use leadline_core::history::Api;
use leadline_core::lead::LeadInput;

const CATALOG: &str = include_str!("../demo/catalog.json");
const LEADS: &str = include_str!("../demo/leads.json");

pub async fn load(app: &App) -> anyhow::Result<String> {
    let operator = Principal::operator();
    let catalog_file: serde_json::Value = serde_json::from_str(CATALOG)?;
    let report = catalog::apply(app, &operator, &catalog_file).await?;
    let demo_leads: Vec<serde_json::Value> = serde_json::from_str(LEADS)?;
    let mut created = 0;
    for lead in demo_leads {
        let id = lead["id"].as_i64().expect("demo leads have ids");
        match leads::get(app, &operator, id).await {
            Ok(_) => continue,
            Err(leadline_app::AppError::NotFound { .. }) => {}
            Err(other) => return Err(other.into()),
        }
        let input: LeadInput = serde_json::from_value(lead)?;
        leads::create(app, &operator, Api::Cli, input).await?;
        created += 1;
    }
    Ok(format!(
        "demo data: catalog {} created, {} updated, {} unchanged; {created} demo leads created",
        report.created, report.updated, report.unchanged
    ))
}
