//! Leads: create, change with history and optimistic concurrency, references, scope by key.

#[macro_use]
mod common;

use common::*;
use leadline_app::archive::{self, Target};
use leadline_app::keys::KeyRequest;
use leadline_app::returns::{self, LeadKey, ReturnCall};
use leadline_app::{leads, sales, App, AppError, Principal};
use leadline_core::archive::{Batch, Direction};
use leadline_core::history::{Api, HistoryEntry};
use leadline_core::lead::is_ref;
use leadline_core::returns::ReturnRequest;
use leadline_store::leads::LeadFilter;
use serde_json::json;

/// A lead's whole history read page by page (`after` the last id seen), `limit` at a time.
async fn history_in_pages(app: &App, by: &Principal, lead_id: i64, limit: i64) -> Vec<HistoryEntry> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = leads::history(app, by, lead_id, after, limit).await.expect("the history reads");
        assert!(page.items.len() as i64 <= limit);
        all.extend(page.items);
        match page.next_cursor {
            Some(cursor) => after = Some(cursor.parse().expect("a history cursor is an id")),
            None => return all,
        }
    }
}

async fn move_lead(app: &App, direction: Direction, id: i64) {
    let batch = Batch { direction, insert: true, update: true, delete: true, lead_ids: vec![id] };
    let counts = archive::run(app, &Target::Leadline, &admin(), Api::Cli, &batch).await.expect("the batch runs");
    assert_eq!(counts.delete_count, 1, "{direction:?} moved the lead");
}

conformance! {
    async fn a_leads_history_follows_it_through_changes_and_the_archive_oldest_first(app) {
        // Each lead's history is its own chain: another lead's changes in between, and a trip
        // to the archive and back, neither cross nor break it.
        let lead = new_lead(&app, json!({"name": "Ann"})).await;
        let other = new_lead(&app, json!({"name": "Bob"})).await;
        let change = |id: i64, city: &str| {
            let app = app.clone();
            let change = input(json!({"city": city}));
            async move { leads::change(&app, &admin(), Api::Native, id, change, None).await.unwrap() }
        };
        change(lead.id, "Perth").await;
        change(other.id, "Perth").await;
        change(lead.id, "Hobart").await;
        change(other.id, "Hobart").await;
        move_lead(&app, Direction::Archive, lead.id).await;
        change(other.id, "Darwin").await;
        let mut conn = app.store.read().await.unwrap();
        let archived = leadline_store::leads::history(&mut conn, lead.id, None, 100).await.unwrap();
        drop(conn);
        let actions: Vec<&str> = archived.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["create", "update", "update", "archived"], "an archived lead keeps its history");
        move_lead(&app, Direction::Dearchive, lead.id).await;
        change(lead.id, "Cairns").await;
        change(other.id, "Cairns").await;

        let entries = history(&app, lead.id).await;
        let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["create", "update", "update", "archived", "dearchived", "update"]);
        assert!(entries.iter().all(|e| e.lead_id == lead.id));
        assert!(entries.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
        assert_eq!(entries[5].changes, json!({"city": {"old": "Hobart", "new": "Cairns"}}));
        for limit in [1, 2, 4, 6, 7] {
            assert_eq!(history_in_pages(&app, &admin(), lead.id, limit).await, entries, "pages of {limit}");
        }
        let after_third = leads::history(&app, &admin(), lead.id, Some(entries[2].id), 2).await.unwrap();
        assert_eq!(after_third.items, entries[3..5]);

        let others = history(&app, other.id).await;
        assert_eq!(others.len(), 5);
        assert!(others.iter().all(|e| e.lead_id == other.id));
        assert!(others[1..].iter().all(|e| e.action == "update"));
    }

    async fn a_second_writer_that_drew_a_taken_ref_hears_so_instead_of_failing(app) {
        // Refs drawn in one second share their first characters, so two writers can draw the
        // same ref at once. The one that commits second must learn the ref is taken (and draw
        // again), not fail on the unique index, whether or not the first had committed yet.
        let lead = |name: &str| {
            let input = serde_json::from_value(json!({"name": name})).unwrap();
            leadline_core::lead::Lead::create("ZZZ55555".into(), input, jiff::Timestamp::from_second(1_800_000_000).unwrap())
                .unwrap()
        };
        let mut first = app.store.begin().await.unwrap();
        let first_id = leadline_store::leads::insert(&mut first, &lead("First")).await.unwrap();
        assert!(first_id.is_some());
        let second = tokio::spawn({
            let app = app.clone();
            let lead = lead("Second");
            async move {
                let mut tx = app.store.begin().await.unwrap();
                let id = leadline_store::leads::insert(&mut tx, &lead).await.unwrap();
                tx.commit().await.unwrap();
                id
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        first.commit().await.unwrap();
        assert_eq!(second.await.unwrap(), None, "the ref was taken by the first writer");
        let after = leadline_store::leads::insert(&mut app.store.begin().await.unwrap(), &lead("Third")).await;
        assert_eq!(after.unwrap(), None, "and stays taken once committed");
        let stored = leads::get(&app, &admin(), first_id.unwrap()).await.unwrap();
        assert_eq!(stored.name.as_deref(), Some("First"));
        // The store alone writes no history (the use cases do), so these leads go before the
        // harness checks that every lead's last change has its history row.
        let mut tx = app.store.begin().await.unwrap();
        leadline_store::Exec::run(&mut tx, &leadline_store::Sql::new("DELETE FROM leads")).await.unwrap();
        tx.commit().await.unwrap();
    }

    async fn a_new_lead_gets_an_id_an_eight_character_ref_and_version_one(app) {
        let seed = seed(&app).await;
        let lead = new_lead(
            &app,
            json!({"campaign_id": seed.campaign, "vertical_id": seed.vertical, "name": "Ann Lee", "email": "ann@example.com",
                   "phones": ["(02) 9999 0000", "+61 400 000 000", "02 9999 0000"], "fields": {"roof": "tile", "kw": 6.6, "owner": true},
                   "callback_at": "2026-11-22T10:00:00Z", "closed": true}),
        )
        .await;
        assert!(lead.id > 0);
        assert_eq!(lead.lead_ref.len(), 8);
        assert!(is_ref(&lead.lead_ref), "{}", lead.lead_ref);
        assert_eq!(lead.version, 1);
        assert_eq!(lead.priority, 10);
        let phones: Vec<&str> = lead.phones.iter().map(|p| p.as_str()).collect();
        assert_eq!(phones, ["0299990000", "61400000000"]);
        // What the use case returned is exactly what was stored, on every backend.
        assert_eq!(leads::get(&app, &admin(), lead.id).await.unwrap(), lead);

        let other = new_lead(&app, json!({})).await;
        assert_ne!(other.id, lead.id);
        assert_ne!(other.lead_ref, lead.lead_ref);

        let by_phone = leads::list(&app, &admin(), LeadFilter { phone: Some("61400000000".into()), ..LeadFilter::default() }).await.unwrap();
        assert_eq!(by_phone.items, vec![lead.clone()]);

        let entries = history(&app, lead.id).await;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].action, "create");
        assert_eq!(entries[0].changes["name"], json!({"old": null, "new": "Ann Lee"}));
        not_found(leads::get(&app, &admin(), other.id + 100).await);
    }

    async fn a_change_bumps_the_version_and_writes_old_and_new_values_to_history(app) {
        let lead = new_lead(&app, json!({"name": "Ann", "city": "Perth"})).await;
        let changed = leads::change(&app, &admin(), Api::Cake, lead.id, input(json!({"name": "Anne", "priority": 3, "thrown_out": true})), None)
            .await
            .unwrap();
        assert_eq!(changed.version, 2);
        assert_eq!(changed.name.as_deref(), Some("Anne"));
        assert_eq!(changed.city.as_deref(), Some("Perth"), "absent fields are kept");
        assert!(changed.thrown_out);
        assert_eq!(leads::get(&app, &admin(), lead.id).await.unwrap(), changed);

        let entries = history(&app, lead.id).await;
        assert_eq!(entries.len(), 2);
        let update = &entries[1];
        assert_eq!((update.action.as_str(), update.api.as_str(), update.key_id), ("update", "cake", None));
        assert_eq!(
            update.changes,
            json!({"name": {"old": "Ann", "new": "Anne"}, "priority": {"old": 10, "new": 3}, "thrown_out": {"old": false, "new": true}})
        );

        // A change that changes nothing keeps the version and writes no history.
        let same = leads::change(&app, &admin(), Api::Native, lead.id, input(json!({"name": "Anne"})), Some(2)).await.unwrap();
        assert_eq!(same.version, 2);
        assert_eq!(history(&app, lead.id).await.len(), 2);

        let cleared = leads::change(&app, &admin(), Api::Native, lead.id, input(json!({"city": null})), None).await.unwrap();
        assert_eq!((cleared.version, cleared.city), (3, None));
        assert_eq!(history(&app, lead.id).await[2].changes, json!({"city": {"old": "Perth", "new": null}}));
    }

    async fn a_stale_if_match_version_is_refused_and_changes_nothing(app) {
        let lead = new_lead(&app, json!({"name": "Ann"})).await;
        let v2 = leads::change(&app, &admin(), Api::Native, lead.id, input(json!({"name": "Anne"})), Some(1)).await.unwrap();
        assert_eq!(v2.version, 2);
        let stale = leads::change(&app, &admin(), Api::Native, lead.id, input(json!({"name": "Annie"})), Some(1)).await;
        assert!(matches!(stale, Err(AppError::StaleVersion { given: 1, current: 2 })), "{stale:?}");
        assert_eq!(leads::get(&app, &admin(), lead.id).await.unwrap(), v2);
        assert_eq!(history(&app, lead.id).await.len(), 2);
        not_found(leads::change(&app, &admin(), Api::Native, lead.id + 100, input(json!({"name": "X"})), Some(1)).await);
    }

    async fn a_reference_to_a_missing_object_is_refused_naming_the_field(app) {
        let seed = seed(&app).await;
        let error = invalid(leads::create(&app, &admin(), Api::Native, input(json!({"name": "Ann", "vertical_id": 999}))).await);
        assert_eq!(error.field, "vertical_id");
        assert!(error.message.contains("999"), "{}", error.message);
        let page = leads::list(&app, &admin(), LeadFilter::default()).await.unwrap();
        assert!(page.items.is_empty(), "a refused create writes nothing");

        let lead = new_lead(&app, json!({"campaign_id": seed.campaign})).await;
        let error = invalid(leads::change(&app, &admin(), Api::Native, lead.id, input(json!({"name": "X", "queue_id": 77})), None).await);
        assert_eq!(error.field, "queue_id");
        assert_eq!(leads::get(&app, &admin(), lead.id).await.unwrap(), lead);
        assert_eq!(history(&app, lead.id).await.len(), 1);

        // An allocation must belong to the lead's campaign.
        let allocation = create(&app, "allocations", json!({"campaign_id": seed.other_campaign, "name": "Fresh"})).await;
        let error = invalid(leads::change(&app, &admin(), Api::Native, lead.id, input(json!({"allocation_id": allocation})), None).await);
        assert_eq!(error.field, "allocation_id");
        let moved = leads::change(
            &app,
            &admin(),
            Api::Native,
            lead.id,
            input(json!({"campaign_id": seed.other_campaign, "allocation_id": allocation})),
            None,
        )
        .await
        .unwrap();
        assert_eq!((moved.campaign_id, moved.allocation_id), (Some(seed.other_campaign), Some(allocation)));

        let error = invalid(leads::create(&app, &admin(), Api::Native, input(json!({"priority": 101}))).await);
        assert_eq!(error.field, "priority");
    }

    async fn a_duplicate_external_id_in_one_campaign_is_a_conflict(app) {
        let seed = seed(&app).await;
        let first = new_lead(&app, json!({"campaign_id": seed.campaign, "external_id": "NJ-1"})).await;
        let message = conflict(leads::create(&app, &admin(), Api::Noojee, input(json!({"campaign_id": seed.campaign, "external_id": "NJ-1"}))).await);
        assert!(message.contains("external_id"), "{message}");
        let elsewhere = new_lead(&app, json!({"campaign_id": seed.other_campaign, "external_id": "NJ-1"})).await;

        let message = conflict(
            leads::change(&app, &admin(), Api::Native, elsewhere.id, input(json!({"campaign_id": seed.campaign})), None).await,
        );
        assert!(message.contains("external_id"), "{message}");
        assert_eq!(leads::get(&app, &admin(), elsewhere.id).await.unwrap(), elsewhere);

        let all = leads::list(&app, &admin(), LeadFilter { external_id: Some("NJ-1".into()), ..LeadFilter::default() }).await.unwrap();
        let ids: Vec<i64> = all.items.iter().map(|l| l.id).collect();
        assert_eq!(ids, [first.id, elsewhere.id]);
    }

    async fn leads_are_listed_by_filter_and_paged_with_a_cursor(app) {
        let seed = seed(&app).await;
        let mut north = Vec::new();
        for i in 0..5 {
            let campaign = if i % 2 == 0 { seed.campaign } else { seed.other_campaign };
            let lead = new_lead(&app, json!({"campaign_id": campaign, "name": format!("L{i}")})).await;
            if campaign == seed.campaign {
                north.push(lead.id);
            }
        }
        let page = leads::list(&app, &admin(), LeadFilter { campaign_id: Some(seed.campaign), ..LeadFilter::default() }).await.unwrap();
        assert_eq!(page.items.iter().map(|l| l.id).collect::<Vec<_>>(), north);

        let first = leads::list(&app, &admin(), LeadFilter { limit: 2, ..LeadFilter::default() }).await.unwrap();
        assert_eq!(first.items.len(), 2);
        let after = leadline_app::parse_cursor(first.next_cursor.as_deref()).unwrap();
        let second = leads::list(&app, &admin(), LeadFilter { limit: 2, after, ..LeadFilter::default() }).await.unwrap();
        let names: Vec<_> = first.items.iter().chain(&second.items).map(|l| l.name.clone().unwrap()).collect();
        assert_eq!(names, ["L0", "L1", "L2", "L3"]);
    }

    async fn a_dialer_key_sees_and_writes_only_leads_of_its_campaigns(app) {
        let seed = seed(&app).await;
        let dialer = sign_in(&app, KeyRequest { campaign_ids: vec![seed.campaign], ..key_request("dialer") }).await;
        let mine = leads::create(&app, &dialer, Api::Noojee, input(json!({"campaign_id": seed.campaign, "name": "Mine"}))).await.unwrap();
        let theirs = new_lead(&app, json!({"campaign_id": seed.other_campaign, "name": "Theirs"})).await;
        new_lead(&app, json!({"name": "Nowhere"})).await;

        forbidden(leads::create(&app, &dialer, Api::Noojee, input(json!({"campaign_id": seed.other_campaign}))).await);
        forbidden(leads::create(&app, &dialer, Api::Noojee, input(json!({"name": "No campaign"}))).await);
        not_found(leads::get(&app, &dialer, theirs.id).await);
        not_found(leads::change(&app, &dialer, Api::Noojee, theirs.id, input(json!({"name": "Taken"})), None).await);
        not_found(leads::history(&app, &dialer, theirs.id, None, 10).await);
        let listed = leads::list(&app, &dialer, LeadFilter::default()).await.unwrap();
        assert_eq!(listed.items.iter().map(|l| l.id).collect::<Vec<_>>(), [mine.id]);
        // Asking for another campaign does not widen the scope.
        let asked = leads::list(&app, &dialer, LeadFilter { campaign_id: Some(seed.other_campaign), ..LeadFilter::default() }).await.unwrap();
        assert!(asked.items.is_empty());

        forbidden(leads::change(&app, &dialer, Api::Noojee, mine.id, input(json!({"campaign_id": seed.other_campaign})), None).await);
        let changed = leads::change(&app, &dialer, Api::Noojee, mine.id, input(json!({"disposition": "NA"})), None).await.unwrap();
        assert_eq!(changed.version, 2);
        assert_eq!(leads::get(&app, &admin(), theirs.id).await.unwrap(), theirs);
        let entries = history(&app, mine.id).await;
        assert!(entries.iter().all(|e| e.key_id == dialer.key_id && e.api == "noojee"), "{entries:?}");
    }

    async fn a_buyer_key_sees_only_the_leads_it_bought(app) {
        let seed = seed(&app).await;
        let bought = new_lead(&app, json!({"vertical_id": seed.vertical, "name": "Bought"})).await;
        let other = new_lead(&app, json!({"vertical_id": seed.vertical, "name": "Other"})).await;
        let buyer = sign_in(&app, KeyRequest { buyer_id: Some(seed.buyer), ..key_request("buyer") }).await;
        let rival = sign_in(&app, KeyRequest { buyer_id: Some(seed.other_buyer), ..key_request("buyer") }).await;

        not_found(leads::get(&app, &buyer, bought.id).await);
        assert!(leads::list(&app, &buyer, LeadFilter::default()).await.unwrap().items.is_empty());

        sales::sell(&app, &admin(), Api::Cake, bought.id, seed.contract).await.unwrap();
        assert_eq!(leads::get(&app, &buyer, bought.id).await.unwrap(), bought);
        not_found(leads::get(&app, &buyer, other.id).await);
        let listed = leads::list(&app, &buyer, LeadFilter::default()).await.unwrap();
        assert_eq!(listed.items.iter().map(|l| l.id).collect::<Vec<_>>(), [bought.id]);
        assert_eq!(leads::history(&app, &buyer, bought.id, None, 10).await.unwrap().items.len(), 2);

        not_found(leads::get(&app, &rival, bought.id).await);
        assert!(leads::list(&app, &rival, LeadFilter::default()).await.unwrap().items.is_empty());

        forbidden(leads::change(&app, &buyer, Api::Native, bought.id, input(json!({"name": "Mine now"})), None).await);
        forbidden(leads::create(&app, &buyer, Api::Native, input(json!({"name": "New"}))).await);
        assert_eq!(leads::get(&app, &admin(), bought.id).await.unwrap(), bought);
    }

    async fn a_readonly_key_reads_every_lead_and_writes_none(app) {
        let seed = seed(&app).await;
        let lead = new_lead(&app, json!({"campaign_id": seed.campaign, "vertical_id": seed.vertical})).await;
        for role in ["readonly", "archiver"] {
            let key = sign_in(&app, key_request(role)).await;
            assert_eq!(leads::get(&app, &key, lead.id).await.unwrap(), lead);
            assert_eq!(leads::list(&app, &key, LeadFilter::default()).await.unwrap().items.len(), 1);
            forbidden(leads::create(&app, &key, Api::Native, input(json!({"campaign_id": seed.campaign}))).await);
            forbidden(leads::change(&app, &key, Api::Native, lead.id, input(json!({"name": "X"})), None).await);
            forbidden(sales::sell(&app, &key, Api::Native, lead.id, seed.contract).await);
        }
        assert_eq!(leads::get(&app, &admin(), lead.id).await.unwrap(), lead);
        assert_eq!(history(&app, lead.id).await.len(), 1);
    }

    async fn twenty_concurrent_changes_without_if_match_all_apply(app) {
        let lead = new_lead(&app, json!({"name": "Busy"})).await;
        let mut tasks = Vec::new();
        for i in 0..20 {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                let change = input(json!({"fields": {format!("f{i}"): i}}));
                leads::change(&app, &admin(), Api::Native, lead.id, change, None).await
            }));
        }
        for task in tasks {
            task.await.unwrap().expect("every change without If-Match applies");
        }
        let last = leads::get(&app, &admin(), lead.id).await.unwrap();
        assert_eq!(last.version, 21);
        assert_eq!(last.fields.len(), 20, "no change overwrote another: {:?}", last.fields);
        let entries = history(&app, lead.id).await;
        assert_eq!(entries.len(), 21);
        assert!(entries[1..].iter().all(|e| e.action == "update" && e.changes.as_object().unwrap().len() == 1));
    }

    async fn sales_during_concurrent_changes_stay_in_the_leads_history(app) {
        // A sale appends history without changing the lead's version; a change racing it must
        // not chain its own history row past the sale's (PostgreSQL, where they run at once).
        const ROUNDS: usize = 40;
        let seed = seed(&app).await;
        let mut contracts = Vec::new();
        for n in 0..ROUNDS {
            let buyer = create(&app, "buyers", json!({"name": format!("Buyer {n}")})).await;
            let contract = json!({"buyer_id": buyer, "vertical_id": seed.vertical, "name": "Solar", "price": "1"});
            contracts.push(create(&app, "buyer-contracts", contract).await);
        }
        let lead = new_lead(&app, json!({"name": "Busy", "vertical_id": seed.vertical})).await;
        let changing = tokio::spawn({
            let app = app.clone();
            async move {
                for i in 0..ROUNDS {
                    let change = input(json!({"fields": {format!("f{i}"): i}}));
                    leads::change(&app, &admin(), Api::Native, lead.id, change, None).await.expect("the change applies");
                }
            }
        });
        let selling = tokio::spawn({
            let app = app.clone();
            async move {
                for contract in contracts {
                    sales::sell(&app, &admin(), Api::Cake, lead.id, contract).await.expect("the sale applies");
                }
            }
        });
        changing.await.unwrap();
        selling.await.unwrap();
        let entries = history(&app, lead.id).await;
        let count = |action: &str| entries.iter().filter(|e| e.action == action).count();
        assert_eq!((count("create"), count("update"), count("sell")), (1, ROUNDS, ROUNDS));
    }

    async fn twenty_concurrent_changes_with_the_same_if_match_let_exactly_one_win(app) {
        let lead = new_lead(&app, json!({"name": "Busy"})).await;
        let mut tasks = Vec::new();
        for i in 0..20 {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                leads::change(&app, &admin(), Api::Native, lead.id, input(json!({"name": format!("N{i}")})), Some(1)).await
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(changed) => winners.push(changed),
                Err(AppError::StaleVersion { given: 1, .. }) => {}
                Err(other) => panic!("a losing change must be StaleVersion, not {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1);
        let last = leads::get(&app, &admin(), lead.id).await.unwrap();
        assert_eq!(last, winners[0]);
        assert_eq!(last.version, 2);
        assert_eq!(history(&app, lead.id).await.len(), 2);
    }

    async fn a_buyer_reads_only_the_history_entries_that_concern_it(app) {
        let seed = seed(&app).await;
        let reason = create(&app, "return-reasons", json!({"name": "Bad phone"})).await;
        let lead = new_lead(&app, json!({"vertical_id": seed.vertical, "name": "Ann"})).await;
        // Both buyers buy the lead; the other buyer returns it, and the operator credits that.
        let own_sale = sales::sell(&app, &admin(), Api::Native, lead.id, seed.contract).await.unwrap();
        let other_sale = sales::sell(&app, &admin(), Api::Native, lead.id, seed.other_contract).await.unwrap();
        let other = sign_in(&app, KeyRequest { buyer_id: Some(seed.other_buyer), ..key_request("buyer") }).await;
        let call = ReturnCall {
            lead: LeadKey::Id(lead.id),
            vertical_id: None,
            buyer_contract_id: None,
            request: ReturnRequest::SubmitForApproval,
            return_reason_id: Some(reason),
            denied_reason_id: None,
        };
        let filed = returns::request(&app, &other, Api::Native, &call).await.unwrap();
        returns::decide(&app, &admin(), Api::Native, filed.id, ReturnRequest::ApproveForCredit, None).await.unwrap();
        leads::change(&app, &admin(), Api::Native, lead.id, input(json!({"city": "Perth"})), None).await.unwrap();

        let everything: Vec<String> = history(&app, lead.id).await.into_iter().map(|e| e.action).collect();
        assert_eq!(everything, ["create", "sell", "sell", "return:pending", "return:approved_credit", "update"]);

        let buyer = sign_in(&app, KeyRequest { buyer_id: Some(seed.buyer), ..key_request("buyer") }).await;
        let seen = history_in_pages(&app, &buyer, lead.id, 100).await;
        let actions: Vec<&str> = seen.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["create", "sell", "update"], "another buyer's sale and return are not this buyer's");
        assert_eq!(seen[1].changes["sale"]["new"]["id"], own_sale.id);
        let text = serde_json::to_string(&seen).unwrap();
        let other_contract = format!("\"buyer_contract_id\":{}", seed.other_contract);
        assert!(!text.contains(&other_contract) && !text.contains("\"7.00\""), "{text}");
        assert_ne!(own_sale.id, other_sale.id);
        // Pages of one entry pass over the withheld entries and end where the history ends.
        assert_eq!(history_in_pages(&app, &buyer, lead.id, 1).await, seen);

        // The other buyer sees its own sale and return, not this buyer's sale.
        let theirs: Vec<String> =
            history_in_pages(&app, &other, lead.id, 2).await.into_iter().map(|e| e.action).collect();
        assert_eq!(theirs, ["create", "sell", "return:pending", "return:approved_credit", "update"]);
    }
}
