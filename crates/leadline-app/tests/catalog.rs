//! Reference collections: create, read, list, patch, delete and `apply`, on every backend.

#[macro_use]
mod common;

use common::*;
use leadline_app::keys::KeyRequest;
use leadline_app::{catalog, App, AppError, Page, Principal};
use serde_json::{json, Value};

/// The first page of a collection as `by` may list it.
async fn list_as(app: &App, by: &Principal, name: &str) -> Result<Page<Value>, AppError> {
    catalog::list(app, by, catalog::find(name).unwrap(), &[], None, 100).await
}

/// The ids of a page that must have been listed.
#[track_caller]
fn ids(page: Result<Page<Value>, AppError>) -> Vec<i64> {
    page.expect("the list is readable").items.iter().map(|v| v["id"].as_i64().unwrap()).collect()
}

conformance! {
    async fn an_object_keeps_a_chosen_id_and_assigned_ids_never_collide_with_chosen_ones(app) {
        let chosen = create(&app, "verticals", json!({"id": 10, "name": "Solar"})).await;
        assert_eq!(chosen, 10);
        let assigned = create(&app, "verticals", json!({"name": "Roofing"})).await;
        assert!(assigned > 10, "assigned id {assigned} must come after the chosen id 10");
        // A chosen id below the highest one does not pull the assigned ids back.
        assert_eq!(create(&app, "verticals", json!({"id": 3, "name": "Pest control"})).await, 3);
        let next = create(&app, "verticals", json!({"name": "Windows"})).await;
        assert!(next > assigned, "assigned id {next} must come after {assigned}");
        for (id, name) in [(10, "Solar"), (assigned, "Roofing"), (3, "Pest control"), (next, "Windows")] {
            assert_eq!(get(&app, "verticals", id).await.unwrap(), json!({"id": id, "name": name}));
        }
        // Leads follow the same rule.
        let lead = leadline_app::leads::create(&app, &admin(), leadline_core::history::Api::Native, input(json!({"id": 500})))
            .await
            .unwrap();
        assert_eq!(lead.id, 500);
        assert!(new_lead(&app, json!({"name": "Ann"})).await.id > 500);
    }

    async fn a_chosen_id_that_is_taken_is_a_conflict(app) {
        create(&app, "buyers", json!({"id": 7, "name": "Acme"})).await;
        let c = catalog::find("buyers").unwrap();
        let message = conflict(catalog::create(&app, &admin(), c, &object(json!({"id": 7, "name": "Other"}))).await);
        assert!(message.contains("already exists"), "{message}");
        assert_eq!(get(&app, "buyers", 7).await.unwrap()["name"], "Acme");

        // Other unique rules are conflicts too, on create and on patch, and say which rule.
        let template = create(&app, "campaign-templates", json!({"name": "Default"})).await;
        let dispositions = catalog::find("dispositions").unwrap();
        create(&app, "dispositions", json!({"template_id": template, "code": "SALE", "closes_lead": true})).await;
        let no_answer = create(&app, "dispositions", json!({"template_id": template, "code": "NA"})).await;
        let duplicate = object(json!({"template_id": template, "code": "SALE"}));
        let message = conflict(catalog::create(&app, &admin(), dispositions, &duplicate).await);
        assert!(message.contains("already has a disposition with this code"), "{message}");
        let message = conflict(catalog::patch(&app, &admin(), dispositions, no_answer, &object(json!({"code": "SALE"}))).await);
        assert!(message.contains("already has a disposition with this code"), "{message}");
        assert_eq!(get(&app, "dispositions", no_answer).await.unwrap()["code"], "NA");
        let dnc = catalog::find("dnc").unwrap();
        create(&app, "dnc", json!({"phone": "02 9999 0000"})).await;
        let message = conflict(catalog::create(&app, &admin(), dnc, &object(json!({"phone": "(02) 9999-0000"}))).await);
        assert!(message.contains("do-not-call"), "{message}");
    }

    async fn a_created_object_reads_back_exactly_as_it_was_shown(app) {
        let seed = seed(&app).await;
        let c = catalog::find("buyer-contracts").unwrap();
        let shown = catalog::create(
            &app,
            &admin(),
            c,
            &object(json!({"buyer_id": seed.buyer, "vertical_id": seed.vertical, "name": "Flat", "price": "0.5",
                           "max_return_age_days": 30, "replace_returns": true})),
        )
        .await
        .unwrap();
        assert_eq!(shown["price"], "0.50");
        assert_eq!(shown["replace_returns"], true);
        assert_eq!(shown["max_return_age_days"], 30);
        let id = shown["id"].as_i64().unwrap();
        assert_eq!(get(&app, "buyer-contracts", id).await.unwrap(), shown);
        let hours = create(
            &app,
            "contact-hours",
            json!({"name": "Office", "timezone": "Australia/Sydney",
                   "schedule": [{"day": "mon", "start": "09:00", "end": "17:00"}]}),
        )
        .await;
        let shown = get(&app, "contact-hours", hours).await.unwrap();
        assert_eq!(shown["schedule"][0]["day"], "mon");
        assert_eq!(shown["timezone"], "Australia/Sydney");
        not_found(get(&app, "contact-hours", hours + 100).await);
    }

    async fn a_create_with_a_bad_field_or_a_missing_reference_names_the_field(app) {
        let queues = catalog::find("queues").unwrap();
        let error = invalid(catalog::create(&app, &admin(), queues, &object(json!({"name": "Q", "kind": "sideways"}))).await);
        assert_eq!(error.field, "kind");
        let error = invalid(
            catalog::create(&app, &admin(), queues, &object(json!({"name": "Q", "kind": "review", "vertical_id": 99}))).await,
        );
        assert_eq!(error.field, "vertical_id");
        assert!(error.message.contains("no vertical with id 99"), "{}", error.message);
        let page = catalog::list(&app, &admin(), queues, &[], None, 100).await.unwrap();
        assert!(page.items.is_empty());
    }

    async fn objects_are_listed_by_filter_and_paged_with_a_cursor(app) {
        let seed = seed(&app).await;
        let queues = catalog::find("queues").unwrap();
        let mut solar = Vec::new();
        for i in 0..5 {
            let vertical = if i % 2 == 0 { seed.vertical } else { seed.other_vertical };
            let kind = if i < 3 { "call_center" } else { "review" };
            let id = create(&app, "queues", json!({"name": format!("Q{i}"), "kind": kind, "vertical_id": vertical})).await;
            if vertical == seed.vertical {
                solar.push(id);
            }
        }
        create(&app, "queues", json!({"name": "Unsorted", "kind": "custom"})).await;

        let by_vertical = catalog::list(&app, &admin(), queues, &[("vertical_id".into(), seed.vertical.to_string())], None, 100)
            .await
            .unwrap();
        let ids: Vec<i64> = by_vertical.items.iter().map(|q| q["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, solar);
        assert_eq!(by_vertical.next_cursor, None);

        let filters = [("vertical_id".into(), seed.vertical.to_string()), ("kind".into(), "review".into())];
        let both = catalog::list(&app, &admin(), queues, &filters, None, 100).await.unwrap();
        assert_eq!(both.items.len(), 1);
        assert_eq!(both.items[0]["name"], "Q4");

        // Pages of two, following the cursor, visit every queue once, in id order.
        let mut seen = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let page = catalog::list(&app, &admin(), queues, &[], after, 2).await.unwrap();
            pages += 1;
            assert!(page.items.len() <= 2);
            seen.extend(page.items.iter().map(|q| q["name"].as_str().unwrap().to_string()));
            match page.next_cursor {
                Some(cursor) => after = leadline_app::parse_cursor(Some(&cursor)).unwrap(),
                None => break,
            }
            assert!(pages < 10, "the cursor must move on");
        }
        assert_eq!(seen, ["Q0", "Q1", "Q2", "Q3", "Q4", "Unsorted"]);

        // Booleans filter the same way on every backend.
        let allocations = catalog::find("allocations").unwrap();
        create(&app, "allocations", json!({"campaign_id": seed.campaign, "name": "On"})).await;
        let off = create(&app, "allocations", json!({"campaign_id": seed.campaign, "name": "Off", "active": false})).await;
        let inactive = catalog::list(&app, &admin(), allocations, &[("active".into(), "false".into())], None, 100).await.unwrap();
        assert_eq!(inactive.items, vec![json!({"id": off, "campaign_id": seed.campaign, "name": "Off", "active": false})]);

        let error = invalid(catalog::list(&app, &admin(), queues, &[("colour".into(), "red".into())], None, 100).await);
        assert_eq!(error.field, "colour");
        let error = invalid(catalog::list(&app, &admin(), queues, &[("vertical_id".into(), "abc".into())], None, 100).await);
        assert_eq!(error.field, "vertical_id");
    }

    async fn a_patch_merges_into_the_object_and_checks_the_result_whole(app) {
        let seed = seed(&app).await;
        let queues = catalog::find("queues").unwrap();
        let id = create(&app, "queues", json!({"name": "Intake", "kind": "review", "vertical_id": seed.vertical})).await;

        let patched = catalog::patch(&app, &admin(), queues, id, &object(json!({"name": "Triage"}))).await.unwrap();
        assert_eq!(patched, json!({"id": id, "name": "Triage", "kind": "review", "vertical_id": seed.vertical}));
        assert_eq!(get(&app, "queues", id).await.unwrap(), patched);

        let error = invalid(catalog::patch(&app, &admin(), queues, id, &object(json!({"kind": "sideways"}))).await);
        assert_eq!(error.field, "kind");
        let error = invalid(catalog::patch(&app, &admin(), queues, id, &object(json!({"vertical_id": 999}))).await);
        assert_eq!(error.field, "vertical_id");
        let error = invalid(catalog::patch(&app, &admin(), queues, id, &object(json!({"id": id + 1}))).await);
        assert_eq!(error.field, "id");
        assert_eq!(get(&app, "queues", id).await.unwrap(), patched, "refused patches change nothing");

        let cleared = catalog::patch(&app, &admin(), queues, id, &object(json!({"vertical_id": null}))).await.unwrap();
        assert_eq!(cleared["vertical_id"], json!(null));
        assert_eq!(get(&app, "queues", id).await.unwrap()["vertical_id"], json!(null));

        let contracts = catalog::find("buyer-contracts").unwrap();
        let repriced = catalog::patch(&app, &admin(), contracts, seed.contract, &object(json!({"price": "15.5"}))).await.unwrap();
        assert_eq!(repriced["price"], "15.50");
        assert_eq!(repriced["buyer_id"], seed.buyer);

        not_found(catalog::patch(&app, &admin(), queues, id + 100, &object(json!({"name": "X"}))).await);
    }

    async fn a_referenced_object_cannot_be_deleted_until_nothing_refers_to_it(app) {
        let verticals = catalog::find("verticals").unwrap();
        let queues = catalog::find("queues").unwrap();
        let vertical = create(&app, "verticals", json!({"name": "Solar"})).await;
        let queue = create(&app, "queues", json!({"name": "Intake", "kind": "review", "vertical_id": vertical})).await;
        let lead = new_lead(&app, json!({"vertical_id": vertical})).await;

        let message = conflict(catalog::delete(&app, &admin(), verticals, vertical).await);
        assert!(message.contains("queues (vertical_id)"), "{message}");
        assert!(message.contains("leads (vertical_id)"), "{message}");
        assert!(get(&app, "verticals", vertical).await.is_ok(), "a refused delete removes nothing");

        catalog::delete(&app, &admin(), queues, queue).await.unwrap();
        let message = conflict(catalog::delete(&app, &admin(), verticals, vertical).await);
        assert!(!message.contains("queues"), "{message}");
        assert!(message.contains("leads (vertical_id)"), "{message}");

        leadline_app::leads::change(&app, &admin(), leadline_core::history::Api::Native, lead.id, input(json!({"vertical_id": null})), None)
            .await
            .unwrap();
        catalog::delete(&app, &admin(), verticals, vertical).await.unwrap();
        not_found(get(&app, "verticals", vertical).await);
        not_found(catalog::delete(&app, &admin(), verticals, vertical).await);
    }

    async fn a_buyer_with_a_key_or_a_contract_with_a_sale_cannot_be_deleted(app) {
        let seed = seed(&app).await;
        let buyers = catalog::find("buyers").unwrap();
        let contracts = catalog::find("buyer-contracts").unwrap();
        sign_in(&app, leadline_app::keys::KeyRequest { buyer_id: Some(seed.other_buyer), ..key_request("buyer") }).await;
        let message = conflict(catalog::delete(&app, &admin(), buyers, seed.other_buyer).await);
        assert!(message.contains("API keys"), "{message}");

        let lead = new_lead(&app, json!({"vertical_id": seed.vertical})).await;
        leadline_app::sales::sell(&app, &admin(), leadline_core::history::Api::Native, lead.id, seed.contract).await.unwrap();
        let message = conflict(catalog::delete(&app, &admin(), contracts, seed.contract).await);
        assert!(message.contains("sales"), "{message}");
        catalog::delete(&app, &admin(), contracts, seed.other_vertical_contract).await.unwrap();
    }

    async fn applying_a_catalog_file_creates_it_and_applying_it_again_changes_nothing(app) {
        let file = json!({
            // Children before parents in the file: apply writes parents first anyway.
            "allocations": [{"id": 1, "campaign_id": 5, "name": "Fresh"}, {"id": 2, "campaign_id": 5, "name": "Old", "active": false}],
            "campaigns": [{"id": 5, "template_id": 3, "name": "North"}],
            "dispositions": [{"id": 1, "template_id": 3, "code": "SALE", "closes_lead": true, "actions": [{"type": "close"}]}],
            "campaign-templates": [{"id": 3, "name": "Default", "fields": [{"name": "roof", "kind": "text"}], "contact_hours_id": 2}],
            "contact-hours": [{"id": 2, "name": "Office", "timezone": "Australia/Perth",
                               "schedule": [{"day": "tue", "start": "08:30", "end": "17:00"}]}],
            "verticals": [{"id": 1, "name": "Solar"}, {"id": 2, "name": "Roofing"}],
            "buyers": [{"id": 4, "name": "Acme"}],
            "buyer-contracts": [{"id": 9, "buyer_id": 4, "vertical_id": 1, "name": "Acme solar", "price": "12.50", "max_return_age_days": 7}],
            "lead-types": [{"id": 1, "name": "Residential", "subtypes": [{"id": 1, "name": "House"}]}],
            "dnc": [{"id": 1, "phone": "+61 2 9999 0000"}]
        });
        let first = catalog::apply(&app, &admin(), &file).await.unwrap();
        assert_eq!(first, catalog::ApplyReport { created: 12, updated: 0, unchanged: 0 });
        let again = catalog::apply(&app, &admin(), &file).await.unwrap();
        assert_eq!(again, catalog::ApplyReport { created: 0, updated: 0, unchanged: 12 });

        assert_eq!(get(&app, "allocations", 2).await.unwrap()["active"], false);
        assert_eq!(get(&app, "dispositions", 1).await.unwrap()["closes_lead"], true);
        assert_eq!(get(&app, "buyer-contracts", 9).await.unwrap()["price"], "12.50");
        assert_eq!(get(&app, "dnc", 1).await.unwrap()["phone"], "61299990000");

        let changed = json!({"verticals": [{"id": 1, "name": "Solar"}, {"id": 2, "name": "Roofs"}], "buyers": [{"id": 6, "name": "New"}]});
        let report = catalog::apply(&app, &admin(), &changed).await.unwrap();
        assert_eq!(report, catalog::ApplyReport { created: 1, updated: 1, unchanged: 1 });
        assert_eq!(get(&app, "verticals", 2).await.unwrap()["name"], "Roofs");

        // Ids applied from a file leave room for assigned ones.
        let assigned = create(&app, "buyers", json!({"name": "Later"})).await;
        assert!(assigned > 6, "assigned id {assigned} collides with applied ids");
    }

    async fn an_apply_with_an_error_names_the_object_and_field_and_applies_nothing(app) {
        let file = json!({
            "verticals": [{"id": 1, "name": "Solar"}],
            "queues": [{"id": 1, "name": "Intake", "kind": "review", "vertical_id": 1}, {"id": 2, "name": "Bad", "kind": "sideways"}]
        });
        let error = invalid(catalog::apply(&app, &admin(), &file).await);
        assert_eq!(error.field, "queues[1].kind");
        not_found(get(&app, "verticals", 1).await);
        not_found(get(&app, "queues", 1).await);

        let missing = json!({"verticals": [{"id": 1, "name": "Solar"}], "queues": [{"id": 1, "name": "Q", "kind": "review", "vertical_id": 8}]});
        let error = invalid(catalog::apply(&app, &admin(), &missing).await);
        assert_eq!(error.field, "queues[0].vertical_id");
        not_found(get(&app, "verticals", 1).await);

        let no_id = json!({"buyers": [{"id": 1, "name": "Acme"}, {"name": "Globex"}]});
        assert_eq!(invalid(catalog::apply(&app, &admin(), &no_id).await).field, "buyers[1].id");
        not_found(get(&app, "buyers", 1).await);

        let unknown = json!({"verticals": [{"id": 1, "name": "Solar"}], "planets": []});
        assert_eq!(invalid(catalog::apply(&app, &admin(), &unknown).await).field, "planets");

        // A unique collision inside the file also rolls everything back.
        let twice = json!({"verticals": [{"id": 1, "name": "Solar"}],
                           "dnc": [{"id": 1, "phone": "0299990000"}, {"id": 2, "phone": "02 9999 0000"}]});
        let message = conflict(catalog::apply(&app, &admin(), &twice).await);
        assert!(message.starts_with("dnc[1]"), "{message}");
        not_found(get(&app, "verticals", 1).await);
    }

    async fn only_an_admin_writes_the_catalog_and_a_buyer_reads_only_what_it_needs(app) {
        let seed = seed(&app).await;
        let verticals = catalog::find("verticals").unwrap();
        let readonly = sign_in(&app, key_request("readonly")).await;
        forbidden(catalog::create(&app, &readonly, verticals, &object(json!({"name": "X"}))).await);
        forbidden(catalog::patch(&app, &readonly, verticals, seed.vertical, &object(json!({"name": "X"}))).await);
        forbidden(catalog::delete(&app, &readonly, verticals, seed.other_vertical).await);
        forbidden(catalog::apply(&app, &readonly, &json!({"verticals": [{"id": 50, "name": "X"}]})).await);
        assert!(catalog::get(&app, &readonly, catalog::find("buyers").unwrap(), seed.buyer).await.is_ok());

        let buyer = sign_in(&app, leadline_app::keys::KeyRequest { buyer_id: Some(seed.buyer), ..key_request("buyer") }).await;
        assert!(catalog::get(&app, &buyer, verticals, seed.vertical).await.is_ok());
        // Another buyer is not found by a buyer key: its id says nothing.
        not_found(catalog::get(&app, &buyer, catalog::find("buyers").unwrap(), seed.other_buyer).await);
    }

    async fn a_dialer_key_reads_only_its_campaigns_set_up_and_no_people_or_prices(app) {
        let seed = seed(&app).await;
        let other_template = create(&app, "campaign-templates", json!({"name": "Other"})).await;
        let other_campaign = create(&app, "campaigns", json!({"template_id": other_template, "name": "West"})).await;
        let own_disposition = create(&app, "dispositions", json!({"template_id": seed.template, "code": "SALE"})).await;
        let other_disposition = create(
            &app,
            "dispositions",
            json!({"template_id": other_template, "code": "HOOK",
                   "actions": [{"type": "url", "url": "https://crm.example.com/hook?secret=s3"}]}),
        )
        .await;
        let own_allocation = create(&app, "allocations", json!({"campaign_id": seed.campaign, "name": "A"})).await;
        create(&app, "allocations", json!({"campaign_id": other_campaign, "name": "B"})).await;
        let global_dnc = create(&app, "dnc", json!({"phone": "0299990001"})).await;
        let own_dnc = create(&app, "dnc", json!({"phone": "0299990002", "campaign_id": seed.campaign})).await;
        create(&app, "dnc", json!({"phone": "0299990003", "campaign_id": other_campaign})).await;
        let company = create(&app, "companies", json!({"name": "Initech"})).await;
        create(&app, "contacts", json!({"name": "Peter", "email": "peter@initech.example", "company_id": company})).await;

        let dialer = sign_in(&app, KeyRequest { campaign_ids: vec![seed.campaign], ..key_request("dialer") }).await;
        for denied in ["contacts", "companies", "buyers", "buyer-contracts", "users", "return-reasons"] {
            forbidden(list_as(&app, &dialer, denied).await);
        }
        assert_eq!(ids(list_as(&app, &dialer, "campaigns").await), vec![seed.campaign]);
        assert_eq!(ids(list_as(&app, &dialer, "campaign-templates").await), vec![seed.template]);
        assert_eq!(ids(list_as(&app, &dialer, "dispositions").await), vec![own_disposition]);
        assert_eq!(ids(list_as(&app, &dialer, "allocations").await), vec![own_allocation]);
        assert_eq!(ids(list_as(&app, &dialer, "dnc").await), vec![global_dnc, own_dnc]);
        assert_eq!(ids(list_as(&app, &dialer, "verticals").await), vec![seed.vertical, seed.other_vertical]);
        // Another campaign's objects are not found by id either, and filters do not widen the scope.
        not_found(catalog::get(&app, &dialer, catalog::find("dispositions").unwrap(), other_disposition).await);
        not_found(catalog::get(&app, &dialer, catalog::find("campaigns").unwrap(), other_campaign).await);
        let filter = [("template_id".to_string(), other_template.to_string())];
        let filtered = catalog::list(&app, &dialer, catalog::find("dispositions").unwrap(), &filter, None, 100).await;
        assert!(filtered.unwrap().items.is_empty());

        // A buyer key reads its own buyer and contracts, prices included, and no one else's.
        let buyer = sign_in(&app, KeyRequest { buyer_id: Some(seed.buyer), ..key_request("buyer") }).await;
        let contracts = catalog::find("buyer-contracts").unwrap();
        let own = list_as(&app, &buyer, "buyer-contracts").await;
        assert_eq!(ids(own), vec![seed.contract, seed.other_vertical_contract]);
        not_found(catalog::get(&app, &buyer, contracts, seed.other_contract).await);
        assert_eq!(ids(list_as(&app, &buyer, "buyers").await), vec![seed.buyer]);
        forbidden(list_as(&app, &buyer, "dispositions").await);

        // An archiver chooses leads by campaign; it reads no people, prices or webhook URLs.
        let archiver = sign_in(&app, key_request("archiver")).await;
        let campaigns = list_as(&app, &archiver, "campaigns").await;
        assert_eq!(ids(campaigns), vec![seed.campaign, seed.other_campaign, other_campaign]);
        for denied in ["contacts", "companies", "buyer-contracts", "dispositions"] {
            forbidden(list_as(&app, &archiver, denied).await);
        }
    }
}
