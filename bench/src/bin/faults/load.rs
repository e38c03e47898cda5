//! The write load: workers that create leads, change them, charge fees through queue actions and
//! sell them, through the native API, and load and update leads through the Noojee dialect (on
//! SQLite the writer thread's path), each write recorded with what the server answered. Every
//! write carries a value no other write uses (a name, a city, a fee amount, a lead and contract),
//! so the database can later be asked whether that write is there.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use leadline_bench::XorShift;
use serde_json::{json, Value};

use crate::client::{Client, Reply, CONTRACTS};

/// What a write was meant to leave in the database.
#[derive(Debug, Clone)]
pub enum Write {
    /// `POST /v1/leads` naming the lead `name`.
    Insert { name: String, id: Option<i64> },
    /// `PATCH /v1/leads/{lead}` setting `city`.
    Update { lead: i64, city: String, version: Option<i64> },
    /// `POST /v1/leads/{lead}/queue-actions` (`change_status_only` with a fee of `amount_minor`).
    Fee { lead: i64, amount_minor: i64, ledger_id: Option<i64> },
    /// `POST /v1/sales`.
    Sale { lead: i64, contract: i64, sale_id: Option<i64> },
    /// Noojee `insertLeadFast` into campaign 1 (a write of SQLite's direct writer thread).
    DialerInsert { external_id: String, city: String, id: Option<i64> },
    /// Noojee `updateLeadFast` setting the lead's `City`.
    DialerUpdate { lead: i64, city: String },
}

/// What the server answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A success status: the write must be in the database.
    Acknowledged,
    /// An error status: nothing of the write may be in the database.
    Refused(u16),
    /// No answer (the server died, or did not answer in time): all of it or none of it.
    Unknown,
}

#[derive(Debug, Clone)]
pub struct Record {
    /// None for a read (the soak's mixed load).
    pub write: Option<Write>,
    pub outcome: Outcome,
    /// The answer's status and `Retry-After` for refusals, for the report.
    pub detail: Option<(u16, Option<String>, String)>,
    /// When the request was sent, and how long its answer took.
    pub sent: Instant,
    pub latency: Duration,
    /// The worker that sent it.
    pub worker: usize,
}

/// One worker's leads and what it has done to them, kept across rounds.
#[derive(Default)]
pub struct Worker {
    pub index: usize,
    pub leads: Vec<LeadState>,
    /// Leads loaded through the Noojee dialect: (id, external id).
    pub dialer_leads: Vec<(i64, String)>,
    pub records: Vec<Record>,
    pub next: u64,
}

#[derive(Clone)]
pub struct LeadState {
    pub id: i64,
    /// Contracts that may have bought the lead already (acknowledged or unknown sales).
    pub sold: Vec<i64>,
}

/// How the workers behave.
#[derive(Clone)]
pub struct LoadSpec {
    pub address: SocketAddr,
    pub key: String,
    /// Writes started per second by each worker (0: as fast as answered).
    pub per_second: f64,
    /// Each request's bound.
    pub bound: Duration,
    /// Stop after the first write that got no answer (the server is gone).
    pub stop_on_no_answer: bool,
    /// A run tag written into every value, so runs on one database never collide.
    pub tag: String,
    /// Also read: a lead, a lead's history, the lead list (the soak's mixed load).
    pub reads: bool,
}

/// Runs `worker` until `stop` is set (or, with `stop_on_no_answer`, the server stops answering).
pub async fn run(mut worker: Worker, spec: LoadSpec, stop: Arc<AtomicBool>) -> Worker {
    let mut client = Client::lazy(spec.address, &spec.key, spec.bound);
    let mut rng = XorShift::new(0x9e37_79b9 ^ ((worker.index as u64 + 1) * 7919) ^ worker.next);
    let started = Instant::now();
    let mut done = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if spec.per_second > 0.0 {
            let due = started + Duration::from_secs_f64(done as f64 / spec.per_second);
            tokio::time::sleep_until(due.into()).await;
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        done += 1;
        if spec.reads && rng.below(2) == 0 {
            let outcome = read_once(&mut client, &worker, &mut rng).await;
            worker.records.push(outcome);
            continue;
        }
        let record = write_once(&mut client, &mut worker, &mut rng, &spec).await;
        let gone = record.outcome == Outcome::Unknown;
        worker.records.push(record);
        if gone && spec.stop_on_no_answer {
            break;
        }
    }
    worker
}

/// A read: a page of leads, a lead, or a lead's history.
async fn read_once(client: &mut Client, worker: &Worker, rng: &mut XorShift) -> Record {
    let w = worker.index;
    let path = match (worker.leads.len(), rng.below(3)) {
        (0, _) | (_, 0) => "/v1/leads?limit=20".to_string(),
        (n, 1) => format!("/v1/leads/{}", worker.leads[rng.below(n as u64) as usize].id),
        (n, _) => format!("/v1/leads/{}/history", worker.leads[rng.below(n as u64) as usize].id),
    };
    let t0 = Instant::now();
    let answer = client.get(&path).await;
    let (outcome, detail) = classify(&answer, 200);
    Record { write: None, outcome, detail, sent: t0, latency: t0.elapsed(), worker: w }
}

fn classify(
    answer: &Result<Reply, crate::client::NoAnswer>,
    success: u16,
) -> (Outcome, Option<(u16, Option<String>, String)>) {
    match answer {
        Ok(reply) if reply.status == success => (Outcome::Acknowledged, None),
        Ok(reply) => {
            let detail =
                reply.body.get("detail").and_then(Value::as_str).map_or_else(|| reply.body.to_string(), String::from);
            (Outcome::Refused(reply.status), Some((reply.status, reply.retry_after.clone(), detail)))
        }
        Err(error) => (Outcome::Unknown, Some((0, None, error.to_string()))),
    }
}

/// A Noojee answer: success is 200 with `code` 0 (a refusal may carry any status).
fn classify_noojee(
    answer: &Result<Reply, crate::client::NoAnswer>,
) -> (Outcome, Option<(u16, Option<String>, String)>) {
    match answer {
        Ok(reply) if reply.status == 200 && reply.body["code"] == 0 => (Outcome::Acknowledged, None),
        Ok(reply) => {
            (Outcome::Refused(reply.status), Some((reply.status, reply.retry_after.clone(), reply.body.to_string())))
        }
        Err(error) => (Outcome::Unknown, Some((0, None, error.to_string()))),
    }
}

/// A Noojee write: a new lead of campaign 1, or a change of the city of one loaded before.
async fn dialer_write(
    client: &mut Client,
    worker: &mut Worker,
    rng: &mut XorShift,
    spec: &LoadSpec,
    roll: u64,
) -> Record {
    let (n, w, t0) = (worker.next, worker.index, Instant::now());
    let tag = &spec.tag;
    let city = format!("city {tag} w{w} n{n}");
    let query = format!("fTemplateId=1&fCampaignId=1&fAllocationId=1&allowDuplicates=true&apiKey={}", spec.key);
    if worker.dialer_leads.is_empty() || roll < 75 {
        let external_id = format!("x-{tag}-w{w}-n{n}");
        let body = json!({"njExternalLeadId": external_id, "Name": format!("dialer {tag} w{w} n{n}"), "City": city,
            "FirstPhone": format!("04{:02}{:06}", w % 100, n % 1_000_000)});
        let answer = client.post(&format!("/servicemanager/rest/CampaignAPI/insertLeadFast?{query}"), &body).await;
        let (outcome, detail) = classify_noojee(&answer);
        let id = answer.ok().filter(|_| outcome == Outcome::Acknowledged).and_then(|r| r.body["id"].as_i64());
        if let Some(id) = id {
            worker.dialer_leads.push((id, external_id.clone()));
        }
        let write = Some(Write::DialerInsert { external_id, city, id });
        return Record { write, outcome, detail, sent: t0, latency: t0.elapsed(), worker: w };
    }
    let (lead, external_id) = worker.dialer_leads[rng.below(worker.dialer_leads.len() as u64) as usize].clone();
    let body = json!({"njExternalLeadId": external_id, "City": city, "FirstPhone": "<No Change>"});
    let answer = client.post(&format!("/servicemanager/rest/CampaignAPI/updateLeadFast?{query}"), &body).await;
    let (outcome, detail) = classify_noojee(&answer);
    Record {
        write: Some(Write::DialerUpdate { lead, city }),
        outcome,
        detail,
        sent: t0,
        latency: t0.elapsed(),
        worker: w,
    }
}

/// One write, chosen at random among what the worker's leads allow: a third through the Noojee
/// dialect (SQLite's writer thread), the rest through the native API (sqlx transactions).
async fn write_once(client: &mut Client, worker: &mut Worker, rng: &mut XorShift, spec: &LoadSpec) -> Record {
    worker.next += 1;
    let n = worker.next;
    let w = worker.index;
    let tag = &spec.tag;
    let roll = rng.below(100);
    if roll >= 67 {
        return dialer_write(client, worker, rng, spec, roll).await;
    }
    let roll = roll * 100 / 67;
    let t0 = Instant::now();
    if worker.leads.is_empty() || roll < 25 {
        let name = format!("fault {tag} w{w} n{n}");
        let phone = format!("04{:08}", (w as u64 * 1_000_003 + n * 7) % 100_000_000);
        let body = json!({"name": name, "vertical_id": 32, "queue_id": 10, "phones": [phone]});
        let answer = client.post("/v1/leads", &body).await;
        let (outcome, detail) = classify(&answer, 201);
        let id = answer.ok().filter(|r| r.status == 201).and_then(|r| r.body["id"].as_i64());
        if let Some(id) = id {
            worker.leads.push(LeadState { id, sold: Vec::new() });
        }
        return Record {
            write: Some(Write::Insert { name, id }),
            outcome,
            detail,
            sent: t0,
            latency: t0.elapsed(),
            worker: w,
        };
    }
    let index = rng.below(worker.leads.len() as u64) as usize;
    let lead = worker.leads[index].id;
    if roll < 60 {
        let city = format!("city {tag} w{w} n{n}");
        let answer = client.patch(&format!("/v1/leads/{lead}"), &json!({"city": city})).await;
        let (outcome, detail) = classify(&answer, 200);
        let version = answer.ok().filter(|r| r.status == 200).and_then(|r| r.body["version"].as_i64());
        return Record {
            write: Some(Write::Update { lead, city, version }),
            outcome,
            detail,
            sent: t0,
            latency: t0.elapsed(),
            worker: w,
        };
    }
    let unsold: Vec<i64> = CONTRACTS.iter().copied().filter(|c| !worker.leads[index].sold.contains(c)).collect();
    if roll < 85 || unsold.is_empty() {
        // A fee no other write on this lead charges: only this worker writes to its leads, and
        // its counter never repeats (under Money's bound of 1,000,000.00).
        let amount_minor = (n % 99_999_999 + 1) as i64;
        let status = if n.is_multiple_of(2) { 235 } else { 236 };
        let body = json!({"action": "change_status_only", "queue_status_id": status,
            "call_center_fee": format!("{}.{:02}", amount_minor / 100, amount_minor % 100)});
        let answer = client.post(&format!("/v1/leads/{lead}/queue-actions"), &body).await;
        let (outcome, detail) = classify(&answer, 200);
        let ledger_id = answer.ok().filter(|r| r.status == 200).and_then(|r| r.body["fee"]["id"].as_i64());
        return Record {
            write: Some(Write::Fee { lead, amount_minor, ledger_id }),
            outcome,
            detail,
            sent: t0,
            latency: t0.elapsed(),
            worker: w,
        };
    }
    let contract = unsold[rng.below(unsold.len() as u64) as usize];
    let answer = client.post("/v1/sales", &json!({"lead_id": lead, "buyer_contract_id": contract})).await;
    let (outcome, detail) = classify(&answer, 201);
    if outcome != Outcome::Refused(400) {
        worker.leads[index].sold.push(contract);
    }
    let sale_id = answer.ok().filter(|r| r.status == 201).and_then(|r| r.body["id"].as_i64());
    Record {
        write: Some(Write::Sale { lead, contract, sale_id }),
        outcome,
        detail,
        sent: t0,
        latency: t0.elapsed(),
        worker: w,
    }
}

/// Starts `workers` tasks and returns their handles and the flag that stops them.
pub fn start(workers: Vec<Worker>, spec: &LoadSpec) -> (Vec<tokio::task::JoinHandle<Worker>>, Arc<AtomicBool>) {
    let stop = Arc::new(AtomicBool::new(false));
    let handles = workers.into_iter().map(|worker| tokio::spawn(run(worker, spec.clone(), stop.clone()))).collect();
    (handles, stop)
}

/// Waits for the workers and hands them back.
pub async fn join(handles: Vec<tokio::task::JoinHandle<Worker>>) -> Vec<Worker> {
    let mut workers = Vec::new();
    for handle in handles {
        workers.push(handle.await.expect("a load worker does not panic"));
    }
    workers
}

/// Counts of a set of records: (acknowledged, refused, unknown).
pub fn tally<'a>(records: impl Iterator<Item = &'a Record>) -> (usize, usize, usize) {
    records.fold((0, 0, 0), |(a, r, u), record| match record.outcome {
        Outcome::Acknowledged => (a + 1, r, u),
        Outcome::Refused(_) => (a, r + 1, u),
        Outcome::Unknown => (a, r, u + 1),
    })
}
