//! Returns: submitting, approving and rejecting; the credit and replacement each decision makes;
//! the rules that refuse a return; a buyer key kept to its own sales; and exact money over many
//! returns.

#[macro_use]
mod common;

use common::*;
use jiff::SignedDuration;
use leadline_app::keys::KeyRequest;
use leadline_app::returns::{self, LeadKey, ReturnCall};
use leadline_app::{sales, AppError};
use leadline_core::history::Api;
use leadline_core::returns::{ReturnError, ReturnRequest, ReturnStatus};
use leadline_store::returns::ReturnFilter;
use serde_json::json;

fn call(lead_id: i64, request: ReturnRequest, reason: i64) -> ReturnCall {
    ReturnCall {
        lead: LeadKey::Id(lead_id),
        vertical_id: None,
        buyer_contract_id: None,
        request,
        return_reason_id: Some(reason),
        denied_reason_id: None,
    }
}

fn all() -> ReturnFilter {
    ReturnFilter { limit: 1000, ..ReturnFilter::default() }
}

#[track_caller]
fn refused<T: std::fmt::Debug>(result: Result<T, AppError>) -> ReturnError {
    match result {
        Err(AppError::Return(error)) => error,
        other => panic!("expected a return refusal, got {other:?}"),
    }
}

struct Reasons {
    returned: i64,
    denied: i64,
}

async fn reasons(app: &leadline_app::App) -> Reasons {
    Reasons {
        returned: create(app, "return-reasons", json!({"name": "Bad phone"})).await,
        denied: create(app, "reject-reasons", json!({"name": "Lead was valid"})).await,
    }
}

async fn sold_lead(app: &leadline_app::App, seed: &Seed, contract: i64) -> i64 {
    let lead = new_lead(app, json!({"vertical_id": seed.vertical})).await;
    sales::sell(app, &admin(), Api::Native, lead.id, contract).await.unwrap();
    lead.id
}

conformance! {
    async fn a_submitted_return_approved_for_credit_credits_the_sale_price(mut app) {
        let clock = TestClock::at("2026-06-01T10:00:00Z");
        app.clock = clock.clone();
        let seed = seed(&app).await;
        let why = reasons(&app).await;
        let lead = sold_lead(&app, &seed, seed.contract).await;
        let buyer = sign_in(&app, KeyRequest { buyer_id: Some(seed.buyer), ..key_request("buyer") }).await;

        let pending = returns::request(&app, &buyer, Api::Cake, &call(lead, ReturnRequest::SubmitForApproval, why.returned)).await.unwrap();
        assert_eq!(pending.status, ReturnStatus::Pending);
        assert_eq!((pending.buyer_id, pending.buyer_contract_id, pending.decided_at), (seed.buyer, seed.contract, None));
        // Submitting again while it waits is CAKE's "already in return list".
        assert_eq!(refused(returns::request(&app, &buyer, Api::Cake, &call(lead, ReturnRequest::SubmitForApproval, why.returned)).await), ReturnError::AlreadyInReturnList);
        assert_eq!(returns::ledger(&app, &admin(), seed.buyer, None, 100).await.unwrap().balance, "0.00");

        clock.advance(SignedDuration::from_hours(2));
        let approved = returns::decide(&app, &admin(), Api::Native, pending.id, ReturnRequest::ApproveForCredit, None).await.unwrap();
        assert_eq!(approved.status, ReturnStatus::ApprovedCredit);
        assert_eq!(approved.decided_at, Some("2026-06-01T12:00:00Z".parse().unwrap()));

        let ledger = returns::ledger(&app, &buyer, seed.buyer, None, 100).await.unwrap();
        assert_eq!(ledger.balance, "12.50");
        assert_eq!(ledger.entries.items.len(), 1);
        let entry = &ledger.entries.items[0];
        assert_eq!((entry.kind.as_str(), entry.amount.as_str(), entry.return_id, entry.lead_id), ("buyer_credit", "12.50", Some(pending.id), Some(lead)));

        // The decision is final.
        assert_eq!(refused(returns::decide(&app, &admin(), Api::Native, pending.id, ReturnRequest::Reject, Some(why.denied)).await), ReturnError::AlreadyDecided("approved_credit"));
        assert_eq!(refused(returns::request(&app, &buyer, Api::Cake, &call(lead, ReturnRequest::SubmitForApproval, why.returned)).await), ReturnError::AlreadyDecided("approved_credit"));
        assert_eq!(returns::ledger(&app, &admin(), seed.buyer, None, 100).await.unwrap().balance, "12.50");

        let actions: Vec<String> = history(&app, lead).await.into_iter().map(|h| h.action).collect();
        assert_eq!(actions, ["create", "sell", "return:pending", "return:approved_credit"]);
    }

    async fn an_admin_decides_directly_and_a_rejection_needs_a_denied_reason(app) {
        let seed = seed(&app).await;
        let why = reasons(&app).await;
        let rejected = sold_lead(&app, &seed, seed.contract).await;
        let replaced = sold_lead(&app, &seed, seed.contract).await;

        let no_reason = returns::request(&app, &admin(), Api::Cake, &call(rejected, ReturnRequest::Reject, why.returned)).await;
        assert_eq!(refused(no_reason), ReturnError::DeniedReasonRequired);
        assert!(returns::list(&app, &admin(), all()).await.unwrap().items.is_empty(), "a refused call stores nothing");

        let view = returns::request(&app, &admin(), Api::Cake, &ReturnCall { denied_reason_id: Some(why.denied), ..call(rejected, ReturnRequest::Reject, why.returned) }).await.unwrap();
        assert_eq!((view.status, view.denied_reason_id), (ReturnStatus::Rejected, Some(why.denied)));
        assert!(view.decided_at.is_some());

        let replace = returns::request(&app, &admin(), Api::Cake, &call(replaced, ReturnRequest::ApproveToReplace, why.returned)).await.unwrap();
        assert_eq!(replace.status, ReturnStatus::ApprovedReplace);
        let requests = returns::replacements(&app, &admin(), Some("pending"), None, 100).await.unwrap().items;
        assert_eq!(requests.len(), 1);
        assert_eq!((requests[0].return_id, requests[0].buyer_contract_id, requests[0].buyer_id), (replace.id, seed.contract, seed.buyer));
        // Neither a rejection nor a replacement moves money.
        assert_eq!(returns::ledger(&app, &admin(), seed.buyer, None, 100).await.unwrap().balance, "0.00");

        // Fulfilling the request sells another lead at no charge; that lead is a replacement,
        // which this contract does not take back (replace_returns is false by default).
        let substitute = new_lead(&app, json!({"vertical_id": seed.vertical})).await;
        let sale = returns::fulfil_replacement(&app, &admin(), Api::Native, requests[0].id, substitute.id).await.unwrap();
        assert_eq!((sale.price.to_string().as_str(), sale.buyer_contract_id), ("0.00", seed.contract));
        assert!(returns::replacements(&app, &admin(), Some("pending"), None, 100).await.unwrap().items.is_empty());
        let again = returns::fulfil_replacement(&app, &admin(), Api::Native, requests[0].id, substitute.id).await;
        assert!(matches!(again, Err(AppError::Conflict(_))), "{again:?}");
        assert_eq!(refused(returns::request(&app, &admin(), Api::Cake, &call(substitute.id, ReturnRequest::SubmitForApproval, why.returned)).await), ReturnError::ReplacementNotReturnable);
    }

    async fn calls_that_cannot_name_one_sale_are_refused_with_the_field(mut app) {
        let clock = TestClock::at("2026-06-01T10:00:00Z");
        app.clock = clock.clone();
        let seed = seed(&app).await;
        let why = reasons(&app).await;
        let never_sold = new_lead(&app, json!({"vertical_id": seed.vertical})).await.id;
        let twice = sold_lead(&app, &seed, seed.contract).await;
        sales::sell(&app, &admin(), Api::Native, twice, seed.other_contract).await.unwrap();
        let submit = |lead| call(lead, ReturnRequest::SubmitForApproval, why.returned);

        assert_eq!(invalid(returns::request(&app, &admin(), Api::Cake, &submit(never_sold + 100)).await).field, "lead_id");
        assert_eq!(invalid(returns::request(&app, &admin(), Api::Cake, &submit(never_sold)).await).field, "buyer_contract_id");
        let ambiguous = invalid(returns::request(&app, &admin(), Api::Cake, &submit(twice)).await);
        assert_eq!(ambiguous.field, "buyer_contract_id");
        assert!(ambiguous.to_string().contains("2 contracts"), "{ambiguous}");
        let wrong_contract = ReturnCall { buyer_contract_id: Some(seed.other_vertical_contract), ..submit(twice) };
        assert_eq!(invalid(returns::request(&app, &admin(), Api::Cake, &wrong_contract).await).field, "buyer_contract_id");
        let wrong_vertical = ReturnCall { vertical_id: Some(seed.other_vertical), ..submit(twice) };
        assert_eq!(invalid(returns::request(&app, &admin(), Api::Cake, &wrong_vertical).await).field, "vertical_id");
        let unknown_reason = ReturnCall { buyer_contract_id: Some(seed.contract), return_reason_id: Some(999), ..submit(twice) };
        assert_eq!(invalid(returns::request(&app, &admin(), Api::Cake, &unknown_reason).await).field, "return_reason_id");
        let unknown_denied = ReturnCall { buyer_contract_id: Some(seed.contract), denied_reason_id: Some(999), ..call(twice, ReturnRequest::Reject, why.returned) };
        assert_eq!(invalid(returns::request(&app, &admin(), Api::Cake, &unknown_denied).await).field, "denied_reason_id");
        not_found(returns::decide(&app, &admin(), Api::Native, 999, ReturnRequest::ApproveForCredit, None).await);
        assert!(returns::list(&app, &admin(), all()).await.unwrap().items.is_empty());

        // buyer_contract_id picks the sale; the contract's return window is whole days since the sale.
        let contracts = leadline_app::catalog::find("buyer-contracts").unwrap();
        leadline_app::catalog::patch(&app, &admin(), contracts, seed.other_contract, &object(json!({"max_return_age_days": 3}))).await.unwrap();
        clock.advance(SignedDuration::from_hours(24 * 3 + 1));
        let late = ReturnCall { buyer_contract_id: Some(seed.other_contract), ..submit(twice) };
        assert_eq!(refused(returns::request(&app, &admin(), Api::Cake, &late).await), ReturnError::TooOld { age_days: 3, max_days: 3 });
        let view = returns::request(&app, &admin(), Api::Cake, &ReturnCall { buyer_contract_id: Some(seed.contract), ..submit(twice) }).await.unwrap();
        assert_eq!(view.buyer_contract_id, seed.contract);
    }

    async fn a_buyer_key_never_reaches_another_buyers_sale(app) {
        let seed = seed(&app).await;
        let why = reasons(&app).await;
        let theirs = sold_lead(&app, &seed, seed.other_contract).await;
        let mine = sold_lead(&app, &seed, seed.contract).await;
        let buyer = sign_in(&app, KeyRequest { buyer_id: Some(seed.buyer), ..key_request("buyer") }).await;
        let rival = sign_in(&app, KeyRequest { buyer_id: Some(seed.other_buyer), ..key_request("buyer") }).await;

        // Return: the rival's sale is not one this buyer bought, which reads as an unknown lead.
        let error = invalid(returns::request(&app, &buyer, Api::Cake, &call(theirs, ReturnRequest::SubmitForApproval, why.returned)).await);
        assert_eq!(error.field, "lead_id");
        let named = ReturnCall { buyer_contract_id: Some(seed.other_contract), ..call(theirs, ReturnRequest::SubmitForApproval, why.returned) };
        assert_eq!(invalid(returns::request(&app, &buyer, Api::Cake, &named).await).field, "lead_id");

        // Approve: a buyer decides nothing, its own return or another's.
        let their_return = returns::request(&app, &rival, Api::Cake, &call(theirs, ReturnRequest::SubmitForApproval, why.returned)).await.unwrap();
        let my_return = returns::request(&app, &buyer, Api::Cake, &call(mine, ReturnRequest::SubmitForApproval, why.returned)).await.unwrap();
        for request in [ReturnRequest::ApproveForCredit, ReturnRequest::ApproveToReplace, ReturnRequest::Reject] {
            forbidden(returns::decide(&app, &buyer, Api::Native, their_return.id, request, Some(why.denied)).await);
            forbidden(returns::decide(&app, &buyer, Api::Native, my_return.id, request, Some(why.denied)).await);
            forbidden(returns::request(&app, &buyer, Api::Cake, &ReturnCall { denied_reason_id: Some(why.denied), ..call(theirs, request, why.returned) }).await);
        }

        // See: lists, single returns, ledgers and replacement requests are the buyer's own.
        let listed = returns::list(&app, &buyer, ReturnFilter { buyer_id: Some(seed.other_buyer), ..all() }).await.unwrap().items;
        assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), [my_return.id]);
        not_found(returns::get(&app, &buyer, their_return.id).await);
        assert_eq!(returns::get(&app, &buyer, my_return.id).await.unwrap().id, my_return.id);
        not_found(returns::ledger(&app, &buyer, seed.other_buyer, None, 10).await);
        returns::decide(&app, &admin(), Api::Native, their_return.id, ReturnRequest::ApproveToReplace, None).await.unwrap();
        assert!(returns::replacements(&app, &buyer, None, None, 10).await.unwrap().items.is_empty());
        assert_eq!(returns::replacements(&app, &rival, None, None, 10).await.unwrap().items.len(), 1);

        // Other roles: read-only reads, dialer keys see nothing.
        let reader = sign_in(&app, key_request("readonly")).await;
        forbidden(returns::request(&app, &reader, Api::Cake, &call(mine, ReturnRequest::SubmitForApproval, why.returned)).await);
        assert_eq!(returns::list(&app, &reader, all()).await.unwrap().items.len(), 2);
        let dialer = sign_in(&app, KeyRequest { campaign_ids: vec![seed.campaign], ..key_request("dialer") }).await;
        forbidden(returns::list(&app, &dialer, all()).await);
        assert_eq!(returns::get(&app, &admin(), their_return.id).await.unwrap().status, ReturnStatus::ApprovedReplace);
    }
}

/// Two nodes on one database decide the same pending returns at the same moment: one decision
/// wins each time, the other is told the return was decided, and only the winner's credit exists.
async fn two_nodes_race_to_decide(backend: Backend) {
    let Some(db) = TestDb::fresh(backend).await else {
        eprintln!("skipped on PostgreSQL: set LEADLINE_TEST_POSTGRES_URL to run it there");
        return;
    };
    let (one, two) = (db.app.clone(), db.second_node().await);
    let seed = seed(&one).await;
    let why = reasons(&one).await;
    let mut credited = 0;
    for round in 0..20 {
        let lead = sold_lead(&one, &seed, seed.contract).await;
        let pending =
            returns::request(&one, &admin(), Api::Cake, &call(lead, ReturnRequest::SubmitForApproval, why.returned))
                .await
                .unwrap();
        // Alternate the contenders: credit against credit, credit against replacement.
        let other = if round % 2 == 0 { ReturnRequest::ApproveForCredit } else { ReturnRequest::ApproveToReplace };
        let (a, b) = tokio::join!(
            tokio::spawn({
                let app = one.clone();
                async move {
                    returns::decide(&app, &admin(), Api::Native, pending.id, ReturnRequest::ApproveForCredit, None)
                        .await
                }
            }),
            tokio::spawn({
                let app = two.clone();
                async move { returns::decide(&app, &admin(), Api::Native, pending.id, other, None).await }
            }),
        );
        let outcomes = [a.unwrap(), b.unwrap()];
        let winners: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        let loser = outcomes.iter().find_map(|o| o.as_ref().err()).expect("one decision lost");
        assert!(matches!(loser, AppError::Return(ReturnError::AlreadyDecided(_))), "round {round}: {loser:?}");
        if winners[0].status == ReturnStatus::ApprovedCredit {
            credited += 1;
        }
        let stored = returns::get(&two, &admin(), pending.id).await.unwrap();
        assert_eq!(stored.status, winners[0].status);
    }
    let ledger = returns::ledger(&two, &admin(), seed.buyer, None, 1000).await.unwrap();
    assert_eq!(ledger.entries.items.len(), credited, "one credit per return approved for credit");
    assert_eq!(ledger.balance, leadline_core::money::Money::from_minor(1250 * credited as i64).to_string());
    let replacements = returns::replacements(&two, &admin(), None, None, 1000).await.unwrap().items.len();
    assert_eq!(replacements + credited, 20);
    two.store.close().await;
    db.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_approving_one_return_at_once_credit_it_once_sqlite() {
    two_nodes_race_to_decide(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_approving_one_return_at_once_credit_it_once_postgres() {
    two_nodes_race_to_decide(Backend::Postgres).await;
}

mod money {
    use super::*;
    use leadline_core::money::Money;
    use proptest::prelude::*;

    /// One step of a random history: sell a lead to a contract at a price, or act on the
    /// return of an earlier sale (by index, wrapped).
    #[derive(Debug, Clone)]
    enum Step {
        Sell { other_buyer: bool, price_minor: i64 },
        Act { sale: usize, request: ReturnRequest, by_decide: bool },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (any::<bool>(), 1i64..=Money::MAX.minor())
                .prop_map(|(other_buyer, price_minor)| Step::Sell { other_buyer, price_minor }),
            (
                0usize..64,
                prop_oneof![
                    Just(ReturnRequest::SubmitForApproval),
                    Just(ReturnRequest::ApproveForCredit),
                    Just(ReturnRequest::ApproveToReplace),
                    Just(ReturnRequest::Reject),
                ],
                any::<bool>()
            )
                .prop_map(|(sale, request, by_decide)| Step::Act { sale, request, by_decide }),
        ]
    }

    async fn replay(backend: Backend, steps: Vec<Step>) {
        let Some(db) = TestDb::fresh(backend).await else { return };
        let app = db.app.clone();
        let seed = seed(&app).await;
        let why = reasons(&app).await;
        let contracts = leadline_app::catalog::find("buyer-contracts").unwrap();
        // (lead, contract, buyer, price) of each sale.
        let mut sold: Vec<(i64, i64, i64, i64)> = Vec::new();
        for step in steps {
            match step {
                Step::Sell { other_buyer, price_minor } => {
                    let (contract, buyer) =
                        if other_buyer { (seed.other_contract, seed.other_buyer) } else { (seed.contract, seed.buyer) };
                    let price = Money::from_minor(price_minor).to_string();
                    leadline_app::catalog::patch(&app, &admin(), contracts, contract, &object(json!({"price": price})))
                        .await
                        .unwrap();
                    let lead = sold_lead(&app, &seed, contract).await;
                    sold.push((lead, contract, buyer, price_minor));
                }
                Step::Act { sale, request, by_decide } if !sold.is_empty() => {
                    let (lead, contract, _, _) = sold[sale % sold.len()];
                    let denied = (request == ReturnRequest::Reject).then_some(why.denied);
                    let existing = returns::list(&app, &admin(), ReturnFilter { lead_id: Some(lead), ..all() })
                        .await
                        .unwrap()
                        .items;
                    // Outcomes vary (already decided, already listed); only money is checked.
                    let _ = match existing.first() {
                        Some(r) if by_decide && request != ReturnRequest::SubmitForApproval => {
                            returns::decide(&app, &admin(), Api::Native, r.id, request, denied).await
                        }
                        _ => {
                            let call = ReturnCall {
                                buyer_contract_id: Some(contract),
                                denied_reason_id: denied,
                                ..call(lead, request, why.returned)
                            };
                            returns::request(&app, &admin(), Api::Cake, &call).await
                        }
                    };
                }
                Step::Act { .. } => {}
            }
        }
        let decided = returns::list(&app, &admin(), all()).await.unwrap().items;
        for buyer in [seed.buyer, seed.other_buyer] {
            let expected: i64 = decided
                .iter()
                .filter(|r| r.buyer_id == buyer && r.status == ReturnStatus::ApprovedCredit)
                .map(|r| sold.iter().find(|s| s.0 == r.lead_id && s.1 == r.buyer_contract_id).unwrap().3)
                .sum();
            let ledger = returns::ledger(&app, &admin(), buyer, None, 1000).await.unwrap();
            assert_eq!(ledger.balance, Money::from_minor(expected).to_string(), "buyer {buyer}");
            let entries: i64 = ledger.entries.items.iter().map(|e| Money::parse(&e.amount).unwrap().minor()).sum();
            assert_eq!(entries, expected, "buyer {buyer}: entries sum to the balance");
        }
        db.remove().await;
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn the_ledger_sums_to_the_prices_of_sales_approved_for_credit(steps in prop::collection::vec(step(), 1..40)) {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(replay(Backend::Sqlite, steps.clone()));
            runtime.block_on(replay(Backend::Postgres, steps));
        }
    }
}
