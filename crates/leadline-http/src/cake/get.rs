//! `/api/1/get.asmx` and `/api/2/get.asmx`: the look-ups the TRACK pages send callers to, as
//! id + name lists.

use leadline_app::{catalog, AppError, Principal};

use super::{refused, Access, Fields, HandlerFuture, Node, Operation, Outcome, ResultType, Service};
use crate::AppState;

pub const GET_V1: Service = Service {
    name: "get",
    path: "/api/1/get.asmx",
    namespace: "http://cakemarketing.com/api/1/",
    operations: &[&VERTICALS, &CUSTOM_QUEUE_STATUSES, &super::returns::GET_REJECT_REASONS],
};

/// CAKE documents `Verticals` at version 2 too (the ReturnLead v2 page sends callers to "GET
/// Verticals API Version 2"), and clients call it there; it answers as at version 1, in the v2
/// namespace. The other look-ups are documented at version 1 only.
pub const GET_V2: Service = Service {
    name: "get",
    path: "/api/2/get.asmx",
    namespace: "http://cakemarketing.com/api/2/",
    operations: &[&VERTICALS],
};

/// How one look-up names its collection and elements.
#[derive(Debug)]
pub struct Lookup {
    pub collection: &'static str,
    pub list: &'static str,
    pub item: &'static str,
    pub id: &'static str,
    pub name: &'static str,
}

pub const VERTICALS_LOOKUP: Lookup =
    Lookup { collection: "verticals", list: "verticals", item: "vertical", id: "vertical_id", name: "vertical_name" };
pub const STATUSES_LOOKUP: Lookup = Lookup {
    collection: "queue-statuses",
    list: "custom_queue_statuses",
    item: "custom_queue_status",
    id: "custom_queue_status_id",
    name: "custom_queue_status_name",
};

pub const VERTICALS: Operation = Operation {
    name: "Verticals",
    root: "verticals_response",
    doc: "Lists the verticals: their ids and names.",
    access: Access::Admin,
    params: &[],
    result: &[
        ("success", ResultType::Bool),
        ("message", ResultType::Text),
        ("row_count", ResultType::Int),
        (
            "verticals",
            ResultType::List {
                item: "vertical",
                fields: &[("vertical_id", ResultType::Int), ("vertical_name", ResultType::Text)],
            },
        ),
    ],
    handler: |state, by, _| lookup(state, by, &VERTICALS_LOOKUP),
};

pub const CUSTOM_QUEUE_STATUSES: Operation = Operation {
    name: "CustomQueueStatuses",
    root: "custom_queue_statuses_response",
    doc: "Lists the call-center queue statuses: their ids and names.",
    access: Access::Admin,
    params: &[],
    result: &[
        ("success", ResultType::Bool),
        ("message", ResultType::Text),
        ("row_count", ResultType::Int),
        (
            "custom_queue_statuses",
            ResultType::List {
                item: "custom_queue_status",
                fields: &[("custom_queue_status_id", ResultType::Int), ("custom_queue_status_name", ResultType::Text)],
            },
        ),
    ],
    handler: |state, by, _| lookup(state, by, &STATUSES_LOOKUP),
};

/// Every object of a catalog collection as id + name rows, in id order.
pub async fn rows(state: &AppState, by: &Principal, lookup: &Lookup) -> Result<Vec<Fields>, AppError> {
    let collection = catalog::find(lookup.collection)?;
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        let page = catalog::list(&state.app, by, collection, &[], after, 1000).await?;
        for item in &page.items {
            rows.push(vec![
                (lookup.id, Node::Int(item["id"].as_i64().unwrap_or(0))),
                (lookup.name, Node::Text(item["name"].as_str().map(str::to_string).unwrap_or_default())),
            ]);
        }
        match page.next_cursor.as_deref().map(str::parse::<i64>) {
            Some(Ok(cursor)) => after = Some(cursor),
            _ => break,
        }
    }
    Ok(rows)
}

pub fn lookup(state: AppState, by: Principal, lookup: &'static Lookup) -> HandlerFuture {
    Box::pin(async move {
        match rows(&state, &by, lookup).await {
            Ok(rows) => Outcome::Answer(vec![
                ("success", Node::Bool(true)),
                ("message", Node::Text(String::new())),
                ("row_count", Node::Int(rows.len() as i64)),
                (lookup.list, Node::List { item: lookup.item, rows }),
            ]),
            Err(error) => refused(error, |e| e.to_string()),
        }
    })
}
