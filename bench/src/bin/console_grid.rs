//! The console's call-center grid with many leads in one queue: the time to answer one page over
//! HTTP (a signed-in session, the whole HTML page) beside the same page's query through the use
//! case in-process (the baseline), for several filters and sorts.
//!
//! ```sh
//! cargo run --release -p leadline-bench --bin console_grid -- --database sqlite
//! cargo run --release -p leadline-bench --bin console_grid -- --database postgres://postgres@127.0.0.1:5432/postgres
//! ```

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use clap::Parser;
use leadline_app::{catalog, console, App, Principal};
use leadline_bench::{fresh_store, load_leads, remove_store, serve, Connection};
use leadline_store::console::{GridFilter, GridSort};
use leadline_store::{Backend, Exec, Sql, SqlArg};
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// `sqlite` for a fresh SQLite file, or a postgres:// URL (a fresh schema is made in it).
    #[arg(long, default_value = "sqlite")]
    database: String,
    #[arg(long, default_value_t = 100_000)]
    leads: i64,
    /// Requests per view (each timed on its own, one after another).
    #[arg(long, default_value_t = 40)]
    requests: usize,
}

fn percentile(times: &mut [Duration], p: f64) -> Duration {
    times.sort_unstable();
    times[((times.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (store, url) = fresh_store(&args.database).await?;
    let app = App::new(store.clone());
    let operator = Principal::operator();
    let file = json!({
        "verticals": [{"id": 1, "name": "Solar"}],
        "queues": [{"id": 1, "name": "Solar calls", "kind": "call_center", "vertical_id": 1},
                   {"id": 2, "name": "Solar review", "kind": "review", "vertical_id": 1}],
        "queue-statuses": [{"id": 1, "name": "New"}, {"id": 2, "name": "No answer"}, {"id": 3, "name": "Call back"}, {"id": 4, "name": "Qualified"}],
        "contact-hours": [{"id": 1, "name": "Melbourne", "timezone": "Australia/Melbourne", "schedule": []}],
        "campaign-templates": [{"id": 1, "name": "Bench", "contact_hours_id": 1}],
        "campaigns": [{"id": 1, "template_id": 1, "name": "Bench"}],
        "allocations": [{"id": 1, "campaign_id": 1, "name": "Bench"}]
    });
    catalog::apply(&app, &operator, &file).await?;
    let started = Instant::now();
    load_leads(&store, args.leads).await?;
    // Every lead in queue 1, spread over the four statuses, each changed at its own moment.
    {
        let mut tx = store.begin().await?;
        let mut sql = Sql::new("UPDATE leads SET vertical_id = 1, queue_id = 1, queue_status_id = 1 + (id % 4), ");
        sql.push("updated_at = ").bind(SqlArg::Int(Some(1_700_000_000_000_000)));
        sql.push(" + ((id * 7919) % 1000003) * 1000000, created_at = ").bind(SqlArg::Int(Some(1_690_000_000_000_000)));
        sql.push(" + id * 1000000");
        tx.run(&sql).await?;
        tx.commit().await?;
        // What autovacuum does soon after a bulk change on PostgreSQL (statistics, and the
        // visibility map that lets counts read the index alone); ANALYZE on SQLite.
        let mut conn = store.read().await?;
        let statement = if store.backend() == Backend::Postgres { "VACUUM ANALYZE leads" } else { "ANALYZE" };
        conn.run(&Sql::new(statement)).await?;
    }
    println!("database: {} ({url})", args.database);
    println!("loaded {} leads into one queue in {:.1} s", args.leads, started.elapsed().as_secs_f64());

    let admin = leadline_app::keys::create(
        &app,
        &operator,
        &leadline_app::keys::KeyRequest { role: "admin".into(), ..Default::default() },
    )
    .await?;
    let session = console::sign_in(&app, &admin.secret).await?;
    let cookie = format!("leadline_console={}", session.token);
    let principal = leadline_app::keys::authenticate(&app, &admin.secret).await?;
    let address = serve(app.clone()).await?;
    let mut connection = Connection::open(address).await?;

    let middle = args.leads / 2;
    let views: Vec<(&str, String, GridFilter)> = vec![
        (
            "first page, newest first",
            "/console/grid?queue_id=1".into(),
            GridFilter { queue_id: Some(1), ..GridFilter::default() },
        ),
        (
            "one status, newest first",
            "/console/grid?queue_id=1&status=3".into(),
            GridFilter { queue_id: Some(1), queue_status_id: Some(Some(3)), ..GridFilter::default() },
        ),
        (
            "by last change, oldest first",
            "/console/grid?queue_id=1&sort=updated&dir=asc".into(),
            GridFilter { queue_id: Some(1), sort: GridSort::Updated, descending: false, ..GridFilter::default() },
        ),
        (
            "a page in the middle",
            format!("/console/grid?queue_id=1&after={middle}.{middle}"),
            GridFilter { queue_id: Some(1), after: Some((middle, middle)), ..GridFilter::default() },
        ),
        (
            "200 rows per page",
            "/console/grid?queue_id=1&limit=200".into(),
            GridFilter { queue_id: Some(1), limit: 200, ..GridFilter::default() },
        ),
        (
            "search by name text",
            "/console/grid?queue_id=1&q=Lead+4242".into(),
            GridFilter { queue_id: Some(1), search: Some("Lead 4242".into()), ..GridFilter::default() },
        ),
    ];
    println!();
    println!("| view | rows | in-process p50 | HTTP page p50 | HTTP page p99 | HTTP / in-process |");
    println!("|---|---|---|---|---|---|");
    for (name, path, filter) in views {
        let mut baseline = Vec::with_capacity(args.requests);
        let mut rows = 0;
        for _ in 0..args.requests {
            let t0 = Instant::now();
            let page = console::grid(&app, &principal, filter.clone()).await?;
            baseline.push(t0.elapsed());
            rows = page.leads.len();
        }
        let mut http = Vec::with_capacity(args.requests);
        for _ in 0..args.requests {
            let t0 = Instant::now();
            let (status, body) = connection.get_with_cookie(&path, &cookie).await?;
            http.push(t0.elapsed());
            anyhow::ensure!(status == 200, "{path} answered {status}: {}", String::from_utf8_lossy(&body));
            anyhow::ensure!(body.windows(8).any(|w| w == b"id=\"grid"), "{path} shows no grid");
        }
        let (b50, h50, h99) = (percentile(&mut baseline, 0.5), percentile(&mut http, 0.5), percentile(&mut http, 0.99));
        println!(
            "| {name} | {rows} | {:.1} ms | {:.1} ms | {:.1} ms | {:.2} |",
            ms(b50),
            ms(h50),
            ms(h99),
            h50.as_secs_f64() / b50.as_secs_f64()
        );
    }
    remove_store(store, &args.database, &url).await?;
    Ok(())
}
