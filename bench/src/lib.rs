//! Shared pieces of the benchmarks: a fresh database, bulk-loaded leads, a small HTTP/1.1 load
//! generator with latency percentiles.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use leadline_app::App;
use leadline_store::{Backend, Exec, PoolConfig, Sql, Store};

/// The allocator the `leadline` binary uses, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A fresh database: a new SQLite file, or a new schema on the given PostgreSQL server.
pub async fn fresh_store(database: &str) -> anyhow::Result<(Store, String)> {
    let tag = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos());
    let url = if database == "sqlite" {
        format!("sqlite://{}", std::env::temp_dir().join(format!("leadline-bench-{tag}.db")).display())
    } else {
        let admin = Store::connect(database, &PoolConfig::default()).await.context("connecting to PostgreSQL")?;
        let mut conn = admin.read().await?;
        conn.run(&Sql::new(format!("CREATE SCHEMA bench_{tag}"))).await?;
        drop(conn);
        admin.close().await;
        let separator = if database.contains('?') { '&' } else { '?' };
        format!("{database}{separator}options=-c%20search_path%3Dbench_{tag}")
    };
    let store = Store::connect(&url, &PoolConfig { max_connections: 32, ..PoolConfig::default() }).await?;
    store.migrate().await?;
    Ok((store, url))
}

/// Removes what [`fresh_store`] made: the SQLite file, or the PostgreSQL schema.
pub async fn remove_store(store: Store, database: &str, url: &str) -> anyhow::Result<()> {
    store.close().await;
    if database == "sqlite" {
        let path = url.trim_start_matches("sqlite://");
        for suffix in ["", "-wal", "-shm", "-lock"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
    } else if let Some(schema) = url.rsplit("search_path%3D").next() {
        let admin = Store::connect(database, &PoolConfig::default()).await?;
        let mut conn = admin.read().await?;
        conn.run(&Sql::new(format!("DROP SCHEMA {schema} CASCADE"))).await?;
        drop(conn);
        admin.close().await;
    }
    Ok(())
}

/// Loads `count` leads into campaign 1 / allocation 1 with external ids `E1`… and one phone
/// each, set-wise (the load itself is not what is measured).
pub async fn load_leads(store: &Store, count: i64) -> anyhow::Result<()> {
    let mut tx = store.begin().await?;
    let sql = match store.backend() {
        Backend::Sqlite => "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < $1) \
             INSERT INTO leads (ref, external_id, campaign_id, allocation_id, name, phones, fields, priority, contact_hours_id, \
             dial_count, closed, thrown_out, version, created_at, updated_at) \
             SELECT 'B' || printf('%07d', n), 'E' || n, 1, 1, 'Lead ' || n, '[\"6138' || printf('%07d', n) || '\"]', \
             '{\"FirstPhone\":\"6138' || printf('%07d', n) || '\"}', 10, 1, 0, 0, 0, 1, 0, 0 FROM seq",
        Backend::Postgres => "INSERT INTO leads (ref, external_id, campaign_id, allocation_id, name, phones, fields, priority, contact_hours_id, \
             dial_count, closed, thrown_out, version, created_at, updated_at) \
             SELECT 'B' || lpad(n::text, 7, '0'), 'E' || n, 1, 1, 'Lead ' || n, '[\"6138' || lpad(n::text, 7, '0') || '\"]', \
             '{\"FirstPhone\":\"6138' || lpad(n::text, 7, '0') || '\"}', 10, 1, 0, false, false, 1, 0, 0 FROM generate_series(1, $1) AS n",
    };
    tx.run(&with_count(sql, count)).await?;
    tx.commit().await?;
    Ok(())
}

/// `sql` with each `$1` bound to `count`.
fn with_count(sql: &str, count: i64) -> Sql {
    let mut statement = Sql::new("");
    let mut parts = sql.split("$1");
    statement.push(parts.next().unwrap_or(""));
    for part in parts {
        statement.bind(leadline_store::SqlArg::Int(Some(count))).push(part);
    }
    statement
}

/// A small deterministic generator, so runs are comparable.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Latencies of one run, and what they add up to.
pub struct Run {
    pub done: usize,
    pub failed: usize,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
    /// What the run cost the machine.
    pub usage: Usage,
}

impl Run {
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64()
    }

    /// Microseconds of `cpu` per completed operation, for a table (`-` where not known). Steadier
    /// than the rate on a machine whose host is busy.
    pub fn micros_per_op(&self, cpu: Option<Duration>) -> String {
        micros_each(cpu, self.done)
    }

    pub fn percentile(&mut self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies.sort_unstable();
        let at = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[at]
    }
}

/// Bytes this process has caused to be written to storage so far (Linux's `/proc/self/io`),
/// or None where the kernel does not tell.
pub fn storage_bytes_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines().find_map(|line| line.strip_prefix("write_bytes:")).and_then(|v| v.trim().parse().ok())
}

/// `cpu` in microseconds per one of `count` things, for a table (`-` where not known).
pub fn micros_each(cpu: Option<Duration>, count: usize) -> String {
    match cpu {
        Some(cpu) if count > 0 && !cpu.is_zero() => format!("{:.1}", cpu.as_secs_f64() * 1e6 / count as f64),
        _ => "-".to_string(),
    }
}

/// CPU time used so far by this process's live threads named `name`, or by all of them (Linux's
/// `/proc/self/task/*/schedstat`); threads that have ended are not counted.
pub fn cpu_time(name: Option<&str>) -> Option<Duration> {
    let mut nanos = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        if let Some(name) = name {
            match std::fs::read_to_string(dir.join("comm")) {
                Ok(comm) if comm.trim_end() == name => {}
                _ => continue,
            }
        }
        let Ok(schedstat) = std::fs::read_to_string(dir.join("schedstat")) else { continue };
        nanos += schedstat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(nanos))
}

/// The machine's CPU time so far, in clock ticks: (stolen by the host, all).
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    Some((*ticks.get(7)?, ticks.iter().sum()))
}

/// What a stretch of work cost the machine, as far as Linux tells.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Share of the machine's CPU time the virtual machine's host took for others meanwhile: a
    /// machine whose host is busy runs slower, and figures taken then are not comparable.
    pub stolen: Option<f64>,
    /// CPU time the process's live threads used.
    pub cpu: Option<Duration>,
    /// CPU time SQLite's writer thread used (none on PostgreSQL).
    pub writer_cpu: Option<Duration>,
}

/// Readings taken when a stretch of work starts, to measure its [`Usage`] when it ends.
pub struct Meter {
    ticks: Option<(u64, u64)>,
    cpu: Option<Duration>,
    writer_cpu: Option<Duration>,
}

impl Meter {
    pub fn start() -> Meter {
        Meter {
            ticks: cpu_ticks(),
            cpu: cpu_time(None),
            writer_cpu: cpu_time(Some(leadline_store::sqlite::writer::WRITER_THREAD)),
        }
    }

    /// The usage since [`Meter::start`].
    pub fn read(&self) -> Usage {
        let since = |before: Option<Duration>, now: Option<Duration>| now.zip(before).map(|(n, b)| n.saturating_sub(b));
        let stolen = self.ticks.zip(cpu_ticks()).and_then(|((stolen_before, all_before), (stolen, all))| {
            let all = all.checked_sub(all_before).filter(|all| *all > 0)?;
            Some(stolen.saturating_sub(stolen_before) as f64 / all as f64)
        });
        Usage {
            stolen,
            cpu: since(self.cpu, cpu_time(None)),
            writer_cpu: since(self.writer_cpu, cpu_time(Some(leadline_store::sqlite::writer::WRITER_THREAD))),
        }
    }
}

/// A share as a percentage for a table, or `-` where it is not known.
pub fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".to_string(), |share| format!("{:.1}", share * 100.0))
}

/// Runs `operation(worker, i)` on `workers` tasks for `duration`, timing each call.
pub async fn drive<F, Fut>(workers: usize, duration: Duration, operation: F) -> Run
where
    F: Fn(usize, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let started = Instant::now();
    let meter = Meter::start();
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let operation = operation.clone();
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut failed, mut i) = (Vec::new(), 0usize, 0u64);
            while started.elapsed() < duration {
                let t0 = Instant::now();
                if operation(worker, i).await {
                    latencies.push(t0.elapsed());
                } else {
                    failed += 1;
                }
                i += 1;
            }
            (latencies, failed)
        }));
    }
    let mut run = Run { done: 0, failed: 0, elapsed: Duration::ZERO, latencies: Vec::new(), usage: Usage::default() };
    for task in tasks {
        let (latencies, failed) = task.await.expect("a bench worker does not panic");
        run.done += latencies.len();
        run.failed += failed;
        run.latencies.extend(latencies);
    }
    run.elapsed = started.elapsed();
    run.usage = meter.read();
    run
}

/// One keep-alive HTTP/1.1 connection.
pub struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
}

impl Connection {
    pub async fn open(address: SocketAddr) -> anyhow::Result<Connection> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Connection { sender, host: address.to_string() })
    }

    /// POSTs a JSON body and returns the status and body.
    pub async fn post(&mut self, path: &str, body: String) -> anyhow::Result<(u16, Bytes)> {
        self.sender.ready().await?;
        let request = hyper::Request::post(path)
            .header("host", &self.host)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

impl Connection {
    /// GETs `path` with the given `Cookie` header, and returns the status and body.
    pub async fn get_with_cookie(&mut self, path: &str, cookie: &str) -> anyhow::Result<(u16, Bytes)> {
        self.sender.ready().await?;
        let request = hyper::Request::get(path)
            .header("host", &self.host)
            .header("cookie", cookie)
            .body(Full::new(Bytes::new()))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// Serves the full router of `app` on a loopback port.
pub async fn serve(app: App) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let router = leadline_http::router(app, leadline_http::HttpSettings::default());
    tokio::spawn(leadline_http::serve(listener, router, std::future::pending()));
    Ok(address)
}
