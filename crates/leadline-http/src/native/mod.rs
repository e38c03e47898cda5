//! The native JSON API under `/v1`, authenticated by `Authorization: Bearer <key>`.

pub mod archive;
pub mod catalog;
pub mod dialer;
pub mod imports;
pub mod keys;
pub mod leads;
pub mod queues;
pub mod returns;
pub mod sales;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{id}", delete(keys::revoke))
        .route("/leads", get(leads::list).post(leads::create))
        .route("/leads/export", get(imports::export_leads))
        .route("/imports", post(imports::create))
        .route("/imports/{id}", get(imports::get))
        .route("/imports/{id}/rejects", get(imports::rejects))
        .route("/leads/{id}", get(leads::get).patch(leads::change))
        .route("/leads/{id}/history", get(leads::history))
        .route("/archive/leads/{id}", get(archive::get))
        .route("/leads/{id}/queue-actions", post(queues::act))
        .route("/leads/{id}/ledger", get(queues::ledger))
        .route("/leads/{id}/release", post(dialer::release))
        .route("/leads/{id}/disposition", post(dialer::disposition))
        .route("/allocations/{id}/next-lead", post(dialer::next_lead))
        .route("/sales", get(sales::list).post(sales::create))
        .route("/returns", get(returns::list).post(returns::create))
        .route("/returns/{id}", get(returns::get))
        .route("/returns/{id}/approve", post(returns::approve))
        .route("/returns/{id}/reject", post(returns::reject))
        .route("/buyers/{id}/ledger", get(returns::buyer_ledger))
        .route("/replacement-requests", get(returns::replacement_requests))
        .route("/replacement-requests/{id}/fulfil", post(returns::fulfil_replacement))
        .route("/catalog", axum::routing::put(catalog::apply))
        .route("/{collection}", get(catalog::list).post(catalog::create))
        .route("/{collection}/{id}", get(catalog::get).patch(catalog::change).delete(catalog::delete))
}
