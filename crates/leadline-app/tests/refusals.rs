//! Typed refusals: every unique constraint of the schema comes back from the store as its kind on
//! each backend (and through SQLite's direct writer), and each use case that turns one into an
//! answer gives the same answer it always gave.

mod common;

use common::*;
use leadline_app::archive::{self, Target};
use leadline_app::{catalog, leads, sales, App, AppError};
use leadline_core::archive::{Batch, Direction};
use leadline_core::history::Api;
use leadline_store::{Backend, Constraint, Exec, Sql, StoreError};
use serde_json::json;

async fn sql(app: &App, text: &str) -> Result<(), StoreError> {
    let mut tx = app.store.begin().await?;
    tx.run(&Sql::new(text)).await?;
    tx.commit().await?;
    Ok(())
}

/// The kind a statement is refused with; it must be refused.
async fn refused_as(app: &App, text: &str) -> Constraint {
    match sql(app, text).await {
        Err(StoreError::Unique { constraint, .. }) => constraint,
        other => panic!("{text}: {other:?}"),
    }
}

/// The same through SQLite's direct writer (rusqlite).
async fn refused_directly_as(app: &App, text: &str) -> Constraint {
    let writer = app.store.writer().expect("a SQLite file has a direct writer");
    let statement = text.to_string();
    let outcome: Result<(), StoreError> =
        writer.run(move |conn| conn.execute_batch(&statement).map_err(StoreError::from)).await;
    match outcome {
        Err(StoreError::Unique { constraint, .. }) => constraint,
        other => panic!("{text}: {other:?}"),
    }
}

const LEAD_COLUMNS: &str = "INSERT INTO leads (id, ref, campaign_id, external_id, phones, fields, priority, \
                            dial_count, closed, thrown_out, version, created_at, updated_at) VALUES";

conformance! {
    async fn each_unique_constraint_comes_back_as_its_kind(app) {
        let s = seed(&app).await;
        let lead = new_lead(&app, json!({"name": "Ann", "campaign_id": s.campaign, "external_id": "E-1"})).await;
        let reason = create(&app, "return-reasons", json!({"name": "Bad number"})).await;
        let setup = [
            format!("INSERT INTO dispositions (template_id, code, closes_lead, actions) VALUES ({}, 'SALE', TRUE, '[]')", s.template),
            "INSERT INTO dnc (phone, campaign_id) VALUES ('61390000000', NULL)".to_string(),
            format!("INSERT INTO sales (id, lead_id, buyer_contract_id, price_minor, sold_at) VALUES (900, {}, {}, 100, 0)", lead.id, s.contract),
            format!("INSERT INTO returns (id, sale_id, lead_id, buyer_contract_id, buyer_id, status, return_reason_id, created_at) \
                     VALUES (900, 900, {}, {}, {}, 'pending', {reason}, 0)", lead.id, s.contract, s.buyer),
            format!("INSERT INTO ledger (kind, buyer_id, return_id, amount_minor, at) VALUES ('credit', {}, 900, 100, 0)", s.buyer),
            format!("INSERT INTO replacement_requests (return_id, buyer_contract_id, buyer_id, status, created_at) \
                     VALUES (900, {}, {}, 'pending', 0)", s.contract, s.buyer),
            "INSERT INTO api_keys (id, name, prefix, secret_hash, role, campaign_ids, created_at) \
             VALUES (900, 'k', 'p', 'hash-900', 'admin', '[]', 0)".to_string(),
            "INSERT INTO console_sessions (token_hash, key_id, csrf_token, created_at, expires_at) VALUES ('token-900', 900, 'c', 0, 0)".to_string(),
        ];
        for statement in &setup {
            sql(&app, statement).await.unwrap_or_else(|e| panic!("{statement}: {e:?}"));
        }
        let lead_row = |id: i64, lead_ref: &str, external: &str| {
            format!("{LEAD_COLUMNS} ({id}, '{lead_ref}', {}, '{external}', '[]', '{{}}', 10, 0, FALSE, FALSE, 1, 0, 0)", s.campaign)
        };
        let cases = [
            (format!("INSERT INTO verticals (id, name) VALUES ({}, 'again')", s.vertical), Constraint::PrimaryKey),
            (lead_row(lead.id, "ZZZZ0001", "E-2"), Constraint::PrimaryKey),
            (lead_row(lead.id + 100, &lead.lead_ref, "E-3"), Constraint::LeadRef),
            (lead_row(lead.id + 101, "ZZZZ0002", "E-1"), Constraint::LeadExternalId),
            (setup[0].clone(), Constraint::DispositionCode),
            (setup[1].clone(), Constraint::DncPhone),
            (format!("INSERT INTO sales (lead_id, buyer_contract_id, price_minor, sold_at) VALUES ({}, {}, 100, 0)", lead.id, s.contract), Constraint::SaleLeadContract),
            (setup[3].replace("VALUES (900,", "VALUES (901,"), Constraint::ReturnSale),
            (setup[4].clone(), Constraint::LedgerReturn),
            (setup[5].clone(), Constraint::ReplacementReturn),
            (setup[6].replace("VALUES (900,", "VALUES (901,"), Constraint::KeySecret),
            (setup[7].clone(), Constraint::SessionToken),
        ];
        for (statement, kind) in &cases {
            assert_eq!(refused_as(&app, statement).await, *kind, "{statement}");
        }
        // SQLite's direct writer reads rusqlite's errors through the same mapping.
        if app.store.backend() == Backend::Sqlite {
            for (statement, kind) in &cases {
                assert_eq!(refused_directly_as(&app, statement).await, *kind, "{statement}");
            }
        }
    }

    async fn a_taken_external_id_is_the_same_conflict_on_create_and_on_change(app) {
        let s = seed(&app).await;
        new_lead(&app, json!({"name": "Ann", "campaign_id": s.campaign, "external_id": "E-1"})).await;
        let taken = "another lead in this campaign already has this external_id";
        let again = input(json!({"name": "Bob", "campaign_id": s.campaign, "external_id": "E-1"}));
        assert_eq!(conflict(leads::create(&app, &admin(), Api::Native, again).await), taken);
        let bob = new_lead(&app, json!({"name": "Bob", "campaign_id": s.campaign, "external_id": "E-2"})).await;
        let change = input(json!({"external_id": "E-1"}));
        assert_eq!(conflict(leads::change(&app, &admin(), Api::Native, bob.id, change, None).await), taken);
        // Another campaign may use it.
        new_lead(&app, json!({"name": "Cy", "campaign_id": s.other_campaign, "external_id": "E-1"})).await;
    }

    async fn a_taken_lead_id_is_the_same_conflict_whether_the_lead_is_live_or_archived(app) {
        let live = new_lead(&app, json!({"id": 7001, "name": "Ann"})).await;
        let again = input(json!({"id": live.id, "name": "Bob"}));
        assert_eq!(conflict(leads::create(&app, &admin(), Api::Native, again).await), "a lead with id 7001 already exists");
        let gone = new_lead(&app, json!({"id": 7002, "name": "Cy"})).await;
        let batch = Batch { direction: Direction::Archive, insert: true, update: true, delete: true, lead_ids: vec![gone.id] };
        archive::run(&app, &Target::Leadline, &admin(), Api::Cli, &batch).await.expect("the lead is archived");
        let again = input(json!({"id": gone.id, "name": "Di"}));
        assert_eq!(conflict(leads::create(&app, &admin(), Api::Native, again).await), "a lead with id 7002 already exists");
    }

    async fn catalog_refusals_say_which_rule_was_broken(app) {
        let s = seed(&app).await;
        let verticals = catalog::find("verticals").unwrap();
        let taken = catalog::create(&app, &admin(), verticals, &object(json!({"id": s.vertical, "name": "Again"}))).await;
        assert_eq!(conflict(taken), "a vertical with this id already exists");
        let dnc = catalog::find("dnc").unwrap();
        create(&app, "dnc", json!({"phone": "61390000001"})).await;
        let listed = catalog::create(&app, &admin(), dnc, &object(json!({"phone": "61390000001"}))).await;
        assert_eq!(conflict(listed), "this number is already on this do-not-call list");
        let dispositions = catalog::find("dispositions").unwrap();
        let code = json!({"template_id": s.template, "code": "SALE", "closes_lead": true, "actions": []});
        create(&app, "dispositions", code.clone()).await;
        let twice = catalog::create(&app, &admin(), dispositions, &object(code)).await;
        assert_eq!(conflict(twice), "this template already has a disposition with this code");
    }

    async fn a_lead_bought_twice_by_one_contract_is_already_sold(app) {
        let s = seed(&app).await;
        let lead = new_lead(&app, json!({"name": "Ann", "vertical_id": s.vertical})).await;
        sales::sell(&app, &admin(), Api::Cake, lead.id, s.contract).await.unwrap();
        match sales::sell(&app, &admin(), Api::Cake, lead.id, s.contract).await {
            Err(error @ AppError::AlreadySold { .. }) => {
                assert!(matches!(error, AppError::AlreadySold { buyer_contract_id, lead_id } if buyer_contract_id == s.contract && lead_id == lead.id));
                assert_eq!(error.to_string(), format!("contract {} has already bought lead {}", s.contract, lead.id));
            }
            other => panic!("{other:?}"),
        }
    }
}
