//! Archiving 1,000,000 leads through `POST /vicidial/leads/archive` in 500-id batches, beside a
//! baseline doing the same work as plain set-based SQL (copy every row, then delete the rows whose
//! copy is equal in every column), on Leadline's SQLite store and, when `--vicidial` names a
//! MariaDB/MySQL server, on VICIdial tables there.
//!
//! ```sh
//! cargo run --release -p leadline-bench --bin archive -- --database sqlite --leads 1000000
//! cargo run --release -p leadline-bench --bin archive -- --database sqlite --vicidial mysql://root@127.0.0.1:3306/test
//! ```

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use leadline_app::archive::Target;
use leadline_app::keys::{self, KeyRequest};
use leadline_app::{catalog, App, Principal};
use leadline_bench::{fresh_store, load_leads, remove_store};
use leadline_http::vicidial::VicidialSettings;
use leadline_http::HttpSettings;
use leadline_store::vicidial::VicidialDb;
use leadline_store::{Backend, Cells, Exec, Sql};
use serde_json::{json, Value};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Connection as _, Row};

#[derive(Parser)]
struct Args {
    /// `sqlite` for a fresh SQLite file, or a postgres:// URL (a fresh schema is made in it).
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// A MariaDB/MySQL server URL: also run on VICIdial tables in fresh databases there.
    #[arg(long)]
    vicidial: Option<String>,
    #[arg(long, default_value_t = 1_000_000)]
    leads: i64,
    #[arg(long, default_value_t = 500)]
    batch: i64,
    /// Concurrent HTTP connections, each sending its own share of the batches.
    #[arg(long, default_value_t = 2)]
    connections: usize,
}

/// One keep-alive HTTP/1.1 connection that sends the VICIdial key.
struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
    authorization: String,
}

impl Client {
    async fn open(address: SocketAddr, key: &str) -> anyhow::Result<Client> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Client { sender, host: address.to_string(), authorization: format!("Key={key}") })
    }

    async fn archive(&mut self, ids: &[i64]) -> anyhow::Result<Value> {
        let body = json!({"insert_leads": true, "update_leads": true, "delete_leads": true, "lead_ids": ids});
        self.sender.ready().await?;
        let request = hyper::Request::post("/vicidial/leads/archive")
            .header("host", &self.host)
            .header("authorization", &self.authorization)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        anyhow::ensure!(status == 200, "archive answered {status}: {}", String::from_utf8_lossy(&bytes));
        Ok(serde_json::from_slice(&bytes)?)
    }
}

/// Sends batches of `batch` ids out of 1..=leads over `connections` connections; returns the
/// time taken and the leads deleted from the live table.
async fn archive_over_http(app: App, settings: HttpSettings, args: &Args) -> anyhow::Result<(Duration, u64)> {
    let key =
        keys::create(&app, &Principal::operator(), &KeyRequest { role: "archiver".into(), ..KeyRequest::default() })
            .await?
            .secret;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let router = leadline_http::router(app, settings);
    tokio::spawn(leadline_http::serve(listener, router, std::future::pending()));
    let batches: Vec<Vec<i64>> =
        (1..=args.leads).collect::<Vec<_>>().chunks(args.batch as usize).map(<[i64]>::to_vec).collect();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..args.connections {
        let mut client = Client::open(address, &key).await?;
        let mine: Vec<Vec<i64>> = batches.iter().skip(worker).step_by(args.connections).cloned().collect();
        tasks.push(tokio::spawn(async move {
            let mut deleted = 0;
            for ids in mine {
                deleted += client.archive(&ids).await?["delete_count"].as_u64().unwrap_or(0);
            }
            anyhow::Ok(deleted)
        }));
    }
    let mut deleted = 0;
    for task in tasks {
        deleted += task.await??;
    }
    Ok((started.elapsed(), deleted))
}

fn report(name: &str, leads: i64, baseline: Duration, http: Duration, deleted: u64) {
    println!("\n{name}: {leads} leads");
    println!(
        "  baseline, set-based SQL (copy all, delete equal rows): {:>7.1} s {:>9.0} leads/s",
        baseline.as_secs_f64(),
        leads as f64 / baseline.as_secs_f64()
    );
    println!(
        "  HTTP, /vicidial/leads/archive in batches:              {:>7.1} s {:>9.0} leads/s ({deleted} deleted)",
        http.as_secs_f64(),
        leads as f64 / http.as_secs_f64()
    );
    println!("  HTTP / baseline time = {:.2}", http.as_secs_f64() / baseline.as_secs_f64());
}

async fn leadline_store(args: &Args) -> anyhow::Result<()> {
    let catalog_file = json!({
        "contact-hours": [{"id": 1, "name": "Melbourne", "timezone": "Australia/Melbourne", "schedule": []}],
        "campaign-templates": [{"id": 1, "name": "Bench", "contact_hours_id": 1, "fields": []}],
        "campaigns": [{"id": 1, "template_id": 1, "name": "Bench"}],
        "allocations": [{"id": 1, "campaign_id": 1, "name": "Bench"}]
    });
    let catalog_file = &catalog_file;
    let prepare = |store: leadline_store::Store| async move {
        let app = App::new(store);
        catalog::apply(&app, &Principal::operator(), catalog_file).await?;
        let started = Instant::now();
        load_leads(&app.store, args.leads).await?;
        println!("loaded {} leads in {:.1} s", args.leads, started.elapsed().as_secs_f64());
        anyhow::Ok(app)
    };

    // Baseline: the same copy and the same equal-row delete, each one statement over the table.
    let (store, url) = fresh_store(&args.database).await?;
    let app = prepare(store).await?;
    let columns: Vec<String> = {
        let mut conn = app.store.read().await?;
        let sql = match app.store.backend() {
            Backend::Sqlite => "SELECT name FROM pragma_table_info('leads') WHERE name <> 'id' ORDER BY cid",
            Backend::Postgres => "SELECT column_name::text AS name FROM information_schema.columns WHERE table_name = 'leads' AND table_schema = current_schema() AND column_name <> 'id' ORDER BY ordinal_position",
        };
        conn.all_rows(&Sql::new(sql)).await?.iter().map(|r| r.text("name")).collect::<Result<_, _>>()?
    };
    let op = if app.store.backend() == Backend::Sqlite { "IS" } else { "IS NOT DISTINCT FROM" };
    let list = columns.join(", ");
    let same = columns.iter().map(|c| format!("a.{c} {op} leads.{c}")).collect::<Vec<_>>().join(" AND ");
    let started = Instant::now();
    let mut tx = app.store.begin().await?;
    tx.run(&Sql::new(format!("INSERT INTO leads_archive (id, {list}) SELECT id, {list} FROM leads"))).await?;
    let deleted = tx
        .run(&Sql::new(format!(
            "DELETE FROM leads WHERE EXISTS (SELECT 1 FROM leads_archive a WHERE a.id = leads.id AND {same})"
        )))
        .await?;
    tx.commit().await?;
    let baseline = started.elapsed();
    anyhow::ensure!(deleted == args.leads as u64, "the baseline deleted {deleted}");
    remove_store(app.store.clone(), &args.database, &url).await?;

    let (store, url) = fresh_store(&args.database).await?;
    let app = prepare(store).await?;
    let (http, deleted) = archive_over_http(app.clone(), HttpSettings::default(), args).await?;
    anyhow::ensure!(deleted == args.leads as u64, "HTTP deleted {deleted}");
    report(&format!("Leadline store ({})", args.database), args.leads, baseline, http, deleted);
    remove_store(app.store.clone(), &args.database, &url).await
}

const FIXTURE: &str = include_str!("../../../crates/leadline-store/fixtures/vicidial.sql");

/// A fresh database on the server with the VICIdial tables and `leads` rows; returns its URL.
async fn vicidial_db(server: &str, name: &str, leads: i64) -> anyhow::Result<String> {
    let mut admin = MySqlConnectOptions::from_str(server)?.connect().await.context("connecting to MariaDB")?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
    admin.close().await?;
    let root = &server[..server.rfind('/').filter(|&at| at > "mysql://".len()).unwrap_or(server.len())];
    let url = format!("{root}/{name}");
    let mut conn = MySqlConnectOptions::from_str(&url)?.connect().await?;
    let script: String = FIXTURE.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    for statement in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        sqlx::query(statement).execute(&mut conn).await?;
    }
    let started = Instant::now();
    sqlx::query(&format!(
        "INSERT INTO vicidial_list (lead_id, entry_date, modify_date, status, user, vendor_lead_code, source_id, list_id, \
         phone_code, phone_number, title, first_name, last_name, address1, city, state, postal_code, country_code, \
         email, comments, called_count, last_local_call_time, `rank`, owner, entry_list_id, preferred_colour) \
         SELECT seq, '2025-01-01 08:00:00', '2025-02-01 08:00:00', 'NA', 'agent', CONCAT('V', seq), 'bench', 101, \
         '1', CONCAT('312', LPAD(seq, 7, '0')), 'Mr', CONCAT('First', seq), CONCAT('Last', seq), CONCAT(seq, ' Main St'), \
         'Springfield', 'IL', '62701', 'USA', CONCAT('lead', seq, '@example.com'), IF(seq % 3 = 0, NULL, 'note'), \
         seq % 5, '2025-01-15 10:00:00', 0, '', 101, 'teal' FROM seq_1_to_{leads}"
    ))
    .execute(&mut conn)
    .await?;
    println!("loaded {leads} VICIdial leads in {:.1} s", started.elapsed().as_secs_f64());
    conn.close().await?;
    Ok(url)
}

async fn drop_db(server: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = MySqlConnectOptions::from_str(server)?.connect().await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut admin).await?;
    admin.close().await?;
    Ok(())
}

async fn vicidial(server: &str, args: &Args) -> anyhow::Result<()> {
    let tag = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis());
    let (base_name, http_name) = (format!("bench_base_{tag}"), format!("bench_http_{tag}"));

    // Baseline: copy everything, then delete the rows whose copy is byte-equal, as two statements.
    let url = vicidial_db(server, &base_name, args.leads).await?;
    let mut conn = MySqlConnectOptions::from_str(&url)?.connect().await?;
    let columns: Vec<String> = sqlx::query(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'vicidial_list' ORDER BY ORDINAL_POSITION",
    )
    .fetch_all(&mut conn)
    .await?
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect();
    let list = columns.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
    let same = columns
        .iter()
        .map(|c| format!("CAST(l.`{c}` AS BINARY) <=> CAST(a.`{c}` AS BINARY)"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let started = Instant::now();
    sqlx::query(&format!("INSERT INTO vicidial_list_archive ({list}) SELECT {list} FROM vicidial_list"))
        .execute(&mut conn)
        .await?;
    let deleted = sqlx::query(&format!(
        "DELETE l FROM vicidial_list AS l JOIN vicidial_list_archive AS a ON a.lead_id = l.lead_id WHERE {same}"
    ))
    .execute(&mut conn)
    .await?
    .rows_affected();
    let baseline = started.elapsed();
    conn.close().await?;
    drop_db(server, &base_name).await?;
    anyhow::ensure!(deleted == args.leads as u64, "the baseline deleted {deleted}");

    // HTTP: the server pointed at the VICIdial database; keys live in a SQLite store.
    let url = vicidial_db(server, &http_name, args.leads).await?;
    let (store, store_url) = fresh_store("sqlite").await?;
    let app = App::new(store);
    let settings = HttpSettings {
        vicidial: VicidialSettings {
            target: Target::Vicidial(VicidialDb::connect_lazy(&url, args.connections as u32 + 1)?),
            ..VicidialSettings::default()
        },
        ..HttpSettings::default()
    };
    let outcome = archive_over_http(app.clone(), settings, args).await;
    remove_store(app.store.clone(), "sqlite", &store_url).await?;
    drop_db(server, &http_name).await?;
    let (http, deleted) = outcome?;
    anyhow::ensure!(deleted == args.leads as u64, "HTTP deleted {deleted}");
    report("VICIdial tables on MariaDB (MyISAM)", args.leads, baseline, http, deleted);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!("archive bench: {} leads, batches of {}, {} connection(s)", args.leads, args.batch, args.connections);
    leadline_store(&args).await?;
    if let Some(server) = &args.vicidial {
        vicidial(server, &args).await?;
    }
    Ok(())
}
