//! Sales: a lead sold under a buyer contract at its price; a buyer key sees only its own sales.

#[macro_use]
mod common;

use common::*;
use leadline_app::keys::KeyRequest;
use leadline_app::{catalog, sales, AppError};
use leadline_core::history::Api;
use leadline_core::money::Money;
use leadline_store::sales::SaleFilter;
use serde_json::json;

fn all() -> SaleFilter {
    SaleFilter { limit: 100, ..SaleFilter::default() }
}

conformance! {
    async fn a_lead_is_sold_at_the_contract_price(mut app) {
        let clock = TestClock::at("2026-05-04T03:02:01Z");
        app.clock = clock.clone();
        let seed = seed(&app).await;
        let lead = new_lead(&app, json!({"vertical_id": seed.vertical})).await;
        let sale = sales::sell(&app, &admin(), Api::Cake, lead.id, seed.contract).await.unwrap();
        assert_eq!(
            sale,
            sales::Sale {
                id: sale.id,
                lead_id: lead.id,
                buyer_contract_id: seed.contract,
                buyer_id: seed.buyer,
                price: Money::parse("12.50").unwrap(),
                sold_at: "2026-05-04T03:02:01Z".parse().unwrap(),
            }
        );
        let entries = history(&app, lead.id).await;
        assert_eq!(entries.last().unwrap().action, "sell");
        assert_eq!(entries.last().unwrap().changes["sale"]["new"]["price"], "12.50");

        // A later price change does not reprice the sale.
        let contracts = catalog::find("buyer-contracts").unwrap();
        catalog::patch(&app, &admin(), contracts, seed.contract, &object(json!({"price": "99.99"}))).await.unwrap();
        assert_eq!(sales::list(&app, &admin(), all()).await.unwrap().items, vec![sale.clone()]);

        // A contract buys a lead once; another buyer's contract may buy it too.
        let refused = sales::sell(&app, &admin(), Api::Cake, lead.id, seed.contract).await;
        assert!(matches!(refused, Err(AppError::AlreadySold { .. })), "{refused:?}");
        let message = refused.unwrap_err().to_string();
        assert!(message.contains("already bought"), "{message}");
        let second = sales::sell(&app, &admin(), Api::Cake, lead.id, seed.other_contract).await.unwrap();
        assert_eq!(second.price.to_string(), "7.00");
        assert_eq!(sales::list(&app, &admin(), all()).await.unwrap().items.len(), 2);
    }

    async fn a_contract_for_another_vertical_cannot_buy_the_lead(app) {
        let seed = seed(&app).await;
        let lead = new_lead(&app, json!({"vertical_id": seed.vertical})).await;
        let error = invalid(sales::sell(&app, &admin(), Api::Native, lead.id, seed.other_vertical_contract).await);
        assert_eq!(error.field, "buyer_contract_id");
        let no_vertical = new_lead(&app, json!({})).await;
        assert_eq!(invalid(sales::sell(&app, &admin(), Api::Native, no_vertical.id, seed.contract).await).field, "buyer_contract_id");
        assert_eq!(invalid(sales::sell(&app, &admin(), Api::Native, lead.id, 999).await).field, "buyer_contract_id");
        assert_eq!(invalid(sales::sell(&app, &admin(), Api::Native, lead.id + 100, seed.contract).await).field, "lead_id");
        assert!(sales::list(&app, &admin(), all()).await.unwrap().items.is_empty());
        assert_eq!(history(&app, lead.id).await.len(), 1, "a refused sale writes no history");
    }

    async fn a_buyer_key_lists_only_its_own_sales(app) {
        let seed = seed(&app).await;
        let mut mine = Vec::new();
        let mut theirs = Vec::new();
        for i in 0..3 {
            let lead = new_lead(&app, json!({"vertical_id": seed.vertical, "name": format!("L{i}")})).await;
            mine.push(sales::sell(&app, &admin(), Api::Native, lead.id, seed.contract).await.unwrap());
            theirs.push(sales::sell(&app, &admin(), Api::Native, lead.id, seed.other_contract).await.unwrap());
        }
        let buyer = sign_in(&app, KeyRequest { buyer_id: Some(seed.buyer), ..key_request("buyer") }).await;
        let rival = sign_in(&app, KeyRequest { buyer_id: Some(seed.other_buyer), ..key_request("buyer") }).await;

        assert_eq!(sales::list(&app, &buyer, all()).await.unwrap().items, mine);
        assert_eq!(sales::list(&app, &rival, all()).await.unwrap().items, theirs);
        // A buyer cannot widen its view by asking for another buyer.
        let asked = SaleFilter { buyer_id: Some(seed.other_buyer), ..all() };
        assert_eq!(sales::list(&app, &buyer, asked).await.unwrap().items, mine);
        assert_eq!(sales::list(&app, &admin(), all()).await.unwrap().items.len(), 6);
        let by_lead = SaleFilter { lead_id: Some(mine[0].lead_id), ..all() };
        assert_eq!(sales::list(&app, &admin(), by_lead).await.unwrap().items, vec![mine[0].clone(), theirs[0].clone()]);

        // Paging follows the sale id.
        let first = sales::list(&app, &buyer, SaleFilter { limit: 2, ..all() }).await.unwrap();
        assert_eq!(first.items, mine[..2]);
        let after = leadline_app::parse_cursor(first.next_cursor.as_deref()).unwrap();
        assert_eq!(sales::list(&app, &buyer, SaleFilter { limit: 2, after, ..all() }).await.unwrap().items, mine[2..]);

        let dialer = sign_in(&app, KeyRequest { campaign_ids: vec![seed.campaign], ..key_request("dialer") }).await;
        forbidden(sales::list(&app, &dialer, all()).await);
        forbidden(sales::sell(&app, &buyer, Api::Native, mine[0].lead_id, seed.other_vertical_contract).await);
    }
}
