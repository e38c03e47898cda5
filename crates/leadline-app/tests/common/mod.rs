//! Fixtures of the use-case conformance suite. The harness itself (`conformance!`, a fresh
//! database per test on every configured backend, `TestClock`) is `leadline_app::testing`.

#![allow(dead_code)]

use std::fmt::Debug;

use leadline_app::keys::{self, KeyRequest};
use leadline_app::{catalog, leads, App, AppError, Principal};
use leadline_core::history::{Api, HistoryEntry};
use leadline_core::lead::{Lead, LeadInput};
use leadline_core::DomainError;
use serde_json::{Map, Value};

pub use leadline_app::conformance;
#[allow(unused_imports)]
pub use leadline_app::testing::*;

pub fn admin() -> Principal {
    Principal::operator()
}

pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("{other} is not a JSON object"),
    }
}

/// Creates a catalog object as the operator and returns its id.
pub async fn create(app: &App, collection: &str, value: Value) -> i64 {
    let c = catalog::find(collection).expect("a known collection");
    let shown = catalog::create(app, &admin(), c, &object(value))
        .await
        .unwrap_or_else(|e| panic!("creating a {}: {e:?}", c.noun));
    shown["id"].as_i64().expect("objects show their id")
}

pub async fn get(app: &App, collection: &str, id: i64) -> Result<Value, AppError> {
    catalog::get(app, &admin(), catalog::find(collection).unwrap(), id).await
}

pub fn input(value: Value) -> LeadInput {
    serde_json::from_value(value).expect("a valid lead input")
}

/// Creates a lead as the operator.
pub async fn new_lead(app: &App, value: Value) -> Lead {
    leads::create(app, &admin(), Api::Native, input(value)).await.expect("the lead is created")
}

pub async fn history(app: &App, lead_id: i64) -> Vec<HistoryEntry> {
    leads::history(app, &admin(), lead_id, None, 1000).await.expect("the history reads").items
}

/// A small world most tests need: two verticals, two campaigns, two buyers with a contract each.
#[derive(Debug, Clone, Copy)]
pub struct Seed {
    pub vertical: i64,
    pub other_vertical: i64,
    pub template: i64,
    pub campaign: i64,
    pub other_campaign: i64,
    pub buyer: i64,
    pub other_buyer: i64,
    /// Buyer's contract for `vertical`, at 12.50.
    pub contract: i64,
    /// Other buyer's contract for `vertical`, at 7.00.
    pub other_contract: i64,
    /// Buyer's contract for `other_vertical`.
    pub other_vertical_contract: i64,
}

pub async fn seed(app: &App) -> Seed {
    let vertical = create(app, "verticals", serde_json::json!({"name": "Solar"})).await;
    let other_vertical = create(app, "verticals", serde_json::json!({"name": "Roofing"})).await;
    let template = create(app, "campaign-templates", serde_json::json!({"name": "Default"})).await;
    let campaign = create(app, "campaigns", serde_json::json!({"template_id": template, "name": "North"})).await;
    let other_campaign = create(app, "campaigns", serde_json::json!({"template_id": template, "name": "South"})).await;
    let buyer = create(app, "buyers", serde_json::json!({"name": "Acme"})).await;
    let other_buyer = create(app, "buyers", serde_json::json!({"name": "Globex"})).await;
    let contract = create(
        app,
        "buyer-contracts",
        serde_json::json!({"buyer_id": buyer, "vertical_id": vertical, "name": "Acme solar", "price": "12.50"}),
    )
    .await;
    let other_contract = create(
        app,
        "buyer-contracts",
        serde_json::json!({"buyer_id": other_buyer, "vertical_id": vertical, "name": "Globex solar", "price": "7"}),
    )
    .await;
    let other_vertical_contract = create(
        app,
        "buyer-contracts",
        serde_json::json!({"buyer_id": buyer, "vertical_id": other_vertical, "name": "Acme roofing", "price": "3.10"}),
    )
    .await;
    Seed {
        vertical,
        other_vertical,
        template,
        campaign,
        other_campaign,
        buyer,
        other_buyer,
        contract,
        other_contract,
        other_vertical_contract,
    }
}

pub fn key_request(role: &str) -> KeyRequest {
    KeyRequest { role: role.into(), ..KeyRequest::default() }
}

/// Creates a key and signs in with its secret, as an edge would.
pub async fn sign_in(app: &App, request: KeyRequest) -> Principal {
    let created = keys::create(app, &admin(), &request).await.expect("the key is created");
    keys::authenticate(app, &created.secret).await.expect("a new key authenticates")
}

/// The domain error of an [`AppError::Invalid`], or a panic naming what came instead.
#[track_caller]
pub fn invalid<T: Debug>(result: Result<T, AppError>) -> DomainError {
    match result {
        Err(AppError::Invalid(error)) => error,
        Err(AppError::ReturnTarget(target)) => DomainError::new(target.field(), target.to_string()),
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

/// The message of an [`AppError::Conflict`], or a panic naming what came instead.
#[track_caller]
pub fn conflict<T: Debug>(result: Result<T, AppError>) -> String {
    match result {
        Err(AppError::Conflict(message)) => message,
        other => panic!("expected a Conflict, got {other:?}"),
    }
}

#[track_caller]
pub fn forbidden<T: Debug>(result: Result<T, AppError>) -> String {
    match result {
        Err(AppError::Forbidden(message)) => message,
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

#[track_caller]
pub fn unauthorized<T: Debug>(result: Result<T, AppError>) -> String {
    match result {
        Err(AppError::Unauthorized(message)) => message,
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

#[track_caller]
pub fn not_found<T: Debug>(result: Result<T, AppError>) {
    match result {
        Err(AppError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}
