//! What must hold in the database after a fault: every acknowledged write is there, no refused
//! write left anything, each write that got no answer is there whole or not at all, and every
//! lead's history chain is whole. Read straight from the database, not through the server.

use std::collections::{HashMap, HashSet};

use leadline_store::{Cells, Exec, PoolConfig, Sql, Store};
use serde_json::Value;

use crate::load::{Outcome, Record, Write};

/// What the database holds, as far as the checks need it.
pub struct Snapshot {
    /// Live and archived leads: id → (name, city, version, history head); archived ones have no
    /// name, city or version here.
    leads: HashMap<i64, LeadRow>,
    history: HashMap<i64, HistoryRow>,
    /// History rows by lead.
    history_of: HashMap<i64, Vec<i64>>,
    /// Fee entries in the ledger: id → (lead, amount).
    fees: HashMap<i64, (i64, i64)>,
    /// Sales: id → (lead, contract).
    sales: HashMap<i64, (i64, i64)>,
}

struct LeadRow {
    name: Option<String>,
    external_id: Option<String>,
    city: Option<String>,
    version: i64,
    head: Option<i64>,
    archived: bool,
}

struct HistoryRow {
    lead_id: i64,
    prev_id: Option<i64>,
    action: String,
    changes: Value,
}

impl HistoryRow {
    /// The new value this row gives `field`, if it changes it.
    fn new_value(&self, field: &str) -> Option<&Value> {
        self.changes.get(field).and_then(|change| change.get("new"))
    }
}

/// The result of a check: acknowledged writes found, and every violation in words.
pub struct Verdict {
    pub acknowledged: usize,
    pub found: usize,
    pub violations: Vec<String>,
}

/// Reads what the checks need from the database at `url`.
pub async fn snapshot(url: &str) -> anyhow::Result<Snapshot> {
    let store = Store::connect(url, &PoolConfig { max_connections: 2, ..PoolConfig::default() }).await?;
    let result = read(&store).await;
    store.close().await;
    result
}

async fn read(store: &Store) -> anyhow::Result<Snapshot> {
    let mut conn = store.read().await?;
    let mut leads = HashMap::new();
    let live = "SELECT CAST(id AS BIGINT) AS id, name, external_id, city, CAST(version AS BIGINT) AS version, \
                CAST(history_head AS BIGINT) AS head FROM leads";
    for row in conn.all_rows(&Sql::new(live)).await? {
        let lead = LeadRow {
            name: row.opt_text("name")?,
            external_id: row.opt_text("external_id")?,
            city: row.opt_text("city")?,
            version: row.int("version")?,
            head: row.opt_int("head")?,
            archived: false,
        };
        leads.insert(row.int("id")?, lead);
    }
    let archived = "SELECT CAST(id AS BIGINT) AS id, CAST(history_head AS BIGINT) AS head FROM leads_archive";
    for row in conn.all_rows(&Sql::new(archived)).await? {
        let lead = LeadRow {
            name: None,
            external_id: None,
            city: None,
            version: 0,
            head: row.opt_int("head")?,
            archived: true,
        };
        leads.insert(row.int("id")?, lead);
    }
    let mut history = HashMap::new();
    let mut history_of: HashMap<i64, Vec<i64>> = HashMap::new();
    let rows =
        "SELECT CAST(id AS BIGINT) AS id, CAST(lead_id AS BIGINT) AS lead_id, CAST(prev_id AS BIGINT) AS prev_id, \
                action, CAST(changes AS TEXT) AS changes FROM lead_history";
    for row in conn.all_rows(&Sql::new(rows)).await? {
        let id: i64 = row.int("id")?;
        let changes: String = row.text("changes")?;
        let entry = HistoryRow {
            lead_id: row.int("lead_id")?,
            prev_id: row.opt_int("prev_id")?,
            action: row.text("action")?,
            changes: serde_json::from_str(&changes).unwrap_or(Value::Null),
        };
        history_of.entry(entry.lead_id).or_default().push(id);
        history.insert(id, entry);
    }
    let mut fees = HashMap::new();
    let rows =
        "SELECT CAST(id AS BIGINT) AS id, CAST(lead_id AS BIGINT) AS lead_id, CAST(amount_minor AS BIGINT) AS amount \
                FROM ledger WHERE kind = 'call_center_fee'";
    for row in conn.all_rows(&Sql::new(rows)).await? {
        fees.insert(row.int("id")?, (row.int("lead_id")?, row.int("amount")?));
    }
    let mut sales = HashMap::new();
    let rows = "SELECT CAST(id AS BIGINT) AS id, CAST(lead_id AS BIGINT) AS lead_id, \
                CAST(buyer_contract_id AS BIGINT) AS contract FROM sales";
    for row in conn.all_rows(&Sql::new(rows)).await? {
        sales.insert(row.int("id")?, (row.int("lead_id")?, row.int("contract")?));
    }
    Ok(Snapshot { leads, history, history_of, fees, sales })
}

impl Snapshot {
    pub fn leads(&self) -> usize {
        self.leads.values().filter(|lead| !lead.archived).count()
    }

    pub fn history_rows(&self) -> usize {
        self.history.len()
    }

    /// Every lead's history chain, oldest first, or why it is broken.
    fn chain(&self, lead_id: i64, lead: &LeadRow) -> Result<Vec<i64>, String> {
        let mut walked = Vec::new();
        let mut seen = HashSet::new();
        let mut next = lead.head;
        while let Some(id) = next {
            if !seen.insert(id) {
                return Err(format!("lead {lead_id}: its history chain loops at row {id}"));
            }
            let Some(row) = self.history.get(&id) else {
                return Err(format!("lead {lead_id}: its history chain names row {id}, which is not there"));
            };
            if row.lead_id != lead_id {
                return Err(format!("lead {lead_id}: its history chain reaches row {id} of lead {}", row.lead_id));
            }
            walked.push(id);
            next = row.prev_id;
        }
        let rows = self.history_of.get(&lead_id).map_or(0, Vec::len);
        if rows != walked.len() {
            return Err(format!("lead {lead_id}: {rows} history rows, {} of them on its chain", walked.len()));
        }
        walked.reverse();
        Ok(walked)
    }

    /// The checks that hold for any database, whatever load made it.
    pub fn whole(&self) -> Vec<String> {
        let mut violations = Vec::new();
        let mut fees_in_history = HashSet::new();
        let mut sales_in_history = HashSet::new();
        for (&lead_id, lead) in &self.leads {
            let chain = match self.chain(lead_id, lead) {
                Ok(chain) => chain,
                Err(broken) => {
                    violations.push(broken);
                    continue;
                }
            };
            match chain.first().map(|id| self.history[id].action.as_str()) {
                Some("create" | "import") => {}
                Some(other) => {
                    violations.push(format!("lead {lead_id}: its history starts with `{other}`, not its creation"))
                }
                None => violations.push(format!("lead {lead_id}: no history at all")),
            }
            let mut city = None;
            for id in &chain {
                let row = &self.history[id];
                if let Some(new) = row.new_value("city") {
                    city = Some(new.as_str().map(String::from));
                }
                if let Some(ledger_id) = row.new_value("call_center_fee").and_then(|fee| fee["ledger_id"].as_i64()) {
                    fees_in_history.insert(ledger_id);
                    if self.fees.get(&ledger_id).is_none_or(|(lead, _)| *lead != lead_id) {
                        violations.push(format!(
                            "lead {lead_id}: history row {id} charged fee {ledger_id}, which is not in the ledger"
                        ));
                    }
                }
                if row.action == "sell" {
                    if let Some(sale_id) = row.new_value("sale").and_then(|sale| sale["id"].as_i64()) {
                        sales_in_history.insert(sale_id);
                        if self.sales.get(&sale_id).is_none_or(|(lead, _)| *lead != lead_id) {
                            violations.push(format!(
                                "lead {lead_id}: history row {id} sold it (sale {sale_id}), and no such sale is there"
                            ));
                        }
                    }
                }
            }
            if let Some(city) = city {
                if !lead.archived && lead.city != city {
                    violations.push(format!(
                        "lead {lead_id}: its history says the city is {city:?}, the lead says {:?}",
                        lead.city
                    ));
                }
            }
        }
        for (id, row) in &self.history {
            if !self.leads.contains_key(&row.lead_id) {
                violations.push(format!("history row {id} belongs to lead {}, which is not there", row.lead_id));
            }
        }
        for (id, (lead, _)) in &self.fees {
            if !fees_in_history.contains(id) {
                violations.push(format!("ledger fee {id} on lead {lead} has no history row"));
            }
        }
        for (id, (lead, _)) in &self.sales {
            if !sales_in_history.contains(id) {
                violations.push(format!("sale {id} of lead {lead} has no history row"));
            }
        }
        violations.sort();
        violations
    }

    /// Each recorded write against the database: acknowledged ones there, refused ones absent.
    pub fn verdict(&self, records: &[&Record]) -> Verdict {
        let mut verdict = Verdict { acknowledged: 0, found: 0, violations: self.whole() };
        let names: HashSet<&str> = self.leads.values().filter_map(|lead| lead.name.as_deref()).collect();
        let external_ids: HashSet<&str> = self.leads.values().filter_map(|lead| lead.external_id.as_deref()).collect();
        let cities: HashSet<(i64, &str)> = self
            .history
            .values()
            .filter_map(|row| row.new_value("city").and_then(Value::as_str).map(|city| (row.lead_id, city)))
            .collect();
        let fee_amounts: HashSet<(i64, i64)> = self.fees.values().copied().collect();
        let sold: HashSet<(i64, i64)> = self.sales.values().copied().collect();
        let maybe_sold: HashSet<(i64, i64)> = records
            .iter()
            .filter_map(|record| match &record.write {
                Some(Write::Sale { lead, contract, .. }) if !matches!(record.outcome, Outcome::Refused(_)) => {
                    Some((*lead, *contract))
                }
                _ => None,
            })
            .collect();
        for record in records {
            let Some(write) = &record.write else { continue };
            let there = match write {
                Write::Insert { name, id } => match id {
                    Some(id) => self.leads.get(id).is_some_and(|lead| lead.name.as_deref() == Some(name.as_str())),
                    None => names.contains(name.as_str()),
                },
                Write::Update { lead, city, version } => {
                    cities.contains(&(*lead, city.as_str()))
                        && version.is_none_or(|v| self.leads.get(lead).is_some_and(|row| row.version >= v))
                }
                Write::Fee { lead, amount_minor, ledger_id } => match ledger_id {
                    Some(id) => self.fees.get(id) == Some(&(*lead, *amount_minor)),
                    None => fee_amounts.contains(&(*lead, *amount_minor)),
                },
                Write::DialerInsert { external_id, city, id } => match id {
                    Some(id) => self.leads.get(id).is_some_and(|lead| {
                        lead.external_id.as_deref() == Some(external_id.as_str())
                            && cities.contains(&(*id, city.as_str()))
                    }),
                    None => external_ids.contains(external_id.as_str()),
                },
                Write::DialerUpdate { lead, city } => cities.contains(&(*lead, city.as_str())),
                Write::Sale { lead, contract, sale_id } => match sale_id {
                    Some(id) => self.sales.get(id) == Some(&(*lead, *contract)),
                    None => sold.contains(&(*lead, *contract)) && !maybe_sold.contains(&(*lead, *contract)),
                },
            };
            match record.outcome {
                Outcome::Acknowledged => {
                    verdict.acknowledged += 1;
                    if there {
                        verdict.found += 1;
                    } else {
                        verdict.violations.push(format!("acknowledged and missing: {write:?}"));
                    }
                }
                Outcome::Refused(status) if there => {
                    verdict.violations.push(format!("refused ({status}) and yet there: {write:?}"));
                }
                Outcome::Refused(_) | Outcome::Unknown => {}
            }
        }
        verdict
    }
}
