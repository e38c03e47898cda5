//! The HTTP edge's limits over real loopback sockets: the header-read timeout against slow
//! clients, the connection cap, the bounded shutdown, the request timeout and the body idle
//! timeout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leadline_app::testing::{Backend, TestDb};
use leadline_http::{HttpSettings, ServeLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

struct Server {
    address: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    db: TestDb,
}

async fn start(settings: HttpSettings, limits: ServeLimits) -> (Server, leadline_http::AppState) {
    let db = TestDb::fresh(Backend::Sqlite).await.expect("SQLite is always there");
    let (router, state) = leadline_http::router_and_state(db.app.clone(), settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(leadline_http::server::serve(listener, router, limits, async {
        let _ = stopped.await;
    }));
    (Server { address, stop, task, db }, state)
}

impl Server {
    async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.task).await.expect("the server stops").unwrap().unwrap();
        self.db.remove().await;
    }
}

/// One request on its own connection; the whole response text, or None if none came in `within`.
async fn request_within(address: SocketAddr, request: &str, within: Duration) -> Option<String> {
    tokio::time::timeout(within, async {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        String::from_utf8_lossy(&response).into_owned()
    })
    .await
    .ok()
}

const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";

/// Sends the request head one byte at a time, `every` apart, until the server closes the
/// connection; returns when it did, measured from `started` (None if it never did in `limit`).
async fn trickle_until_closed(
    address: SocketAddr,
    every: Duration,
    started: Instant,
    limit: Duration,
) -> Option<Duration> {
    let stream = TcpStream::connect(address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = b"GET /healthz HTTP/1.1\r\nHost: slow.example\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let writing = async move {
        for byte in head.iter().cycle() {
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(every).await;
        }
        std::future::pending::<()>().await
    };
    let closed = async move {
        let mut sink = Vec::new();
        // EOF or a reset both mean the server let go.
        let _ = reader.read_to_end(&mut sink).await;
        started.elapsed()
    };
    tokio::time::timeout(limit, async {
        tokio::select! {
            at = closed => at,
            () = writing => unreachable!("writing never ends by itself"),
        }
    })
    .await
    .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_slow_header_senders_neither_delay_healthz_nor_outlive_the_header_timeout() {
    let header_timeout = Duration::from_secs(4);
    let limits = ServeLimits { header_read_timeout: header_timeout, ..ServeLimits::default() };
    let (server, _) = start(HttpSettings::default(), limits).await;
    let started = Instant::now();
    let slow: Vec<_> = (0..500)
        .map(|_| {
            tokio::spawn(trickle_until_closed(server.address, Duration::from_secs(2), started, Duration::from_secs(20)))
        })
        .collect();
    // Let every slow client connect and send its first bytes, then ask for /healthz while they
    // all hold their connections open.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let asked = Instant::now();
        let health = request_within(server.address, HEALTHZ, Duration::from_secs(5)).await.expect("healthz answers");
        slowest = slowest.max(asked.elapsed());
        assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(started.elapsed() < header_timeout, "healthz was measured while the slow clients were still connected");
    assert!(slowest < Duration::from_millis(100), "healthz took {slowest:?} beside 500 slow clients");
    let mut closed_at = Vec::new();
    for client in slow {
        closed_at.push(client.await.unwrap().expect("the server closed the slow connection"));
    }
    let (first, last) = (closed_at.iter().min().unwrap(), closed_at.iter().max().unwrap());
    eprintln!("healthz beside 500 slow clients: slowest of 10 {slowest:?}; slow clients closed {first:?}..{last:?}");
    assert!(*first >= header_timeout - Duration::from_millis(500), "a slow client was closed early, at {first:?}");
    assert!(*last < header_timeout + Duration::from_secs(3), "the last slow client was closed only at {last:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_beyond_the_cap_waits_until_one_closes() {
    let limits =
        ServeLimits { max_connections: 2, header_read_timeout: Duration::from_secs(30), ..ServeLimits::default() };
    let (server, _) = start(HttpSettings::default(), limits).await;
    let first = TcpStream::connect(server.address).await.unwrap();
    let _second = TcpStream::connect(server.address).await.unwrap();
    let waiting = tokio::spawn(request_within(server.address, HEALTHZ, Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "a third connection was served while two were open");
    let freed = Instant::now();
    drop(first);
    let health = waiting.await.unwrap().expect("the waiting client is served once a slot frees");
    assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
    assert!(freed.elapsed() < Duration::from_secs(2), "served {:?} after a slot freed", freed.elapsed());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_slow_connections_after_the_grace_time() {
    let limits = ServeLimits {
        header_read_timeout: Duration::from_secs(60),
        shutdown_grace: Duration::from_millis(500),
        ..ServeLimits::default()
    };
    let (server, _) = start(HttpSettings::default(), limits).await;
    let mut slow = TcpStream::connect(server.address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: sl").await.unwrap();
    let health = request_within(server.address, HEALTHZ, Duration::from_secs(5)).await.expect("healthz answers");
    assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
    let stopping = Instant::now();
    let Server { stop, task, db, .. } = server;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the server stops despite a slow client")
        .unwrap()
        .unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(3), "shutdown took {:?}", stopping.elapsed());
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the slow connection was closed");
    db.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_not_answered_within_the_request_timeout_gets_503() {
    let settings = HttpSettings {
        request_timeout: Duration::from_millis(300),
        noojee: leadline_http::noojee::Limits {
            concurrency: 1,
            update_wait: Duration::from_secs(30),
            ..Default::default()
        },
        ..HttpSettings::default()
    };
    let (server, state) = start(settings, ServeLimits::default()).await;
    let admin = leadline_app::keys::create(
        &state.app,
        &leadline_app::Principal::operator(),
        &leadline_app::keys::KeyRequest { role: "admin".into(), ..Default::default() },
    )
    .await
    .unwrap()
    .secret;
    // The only Noojee turn is taken, so the update waits for one far longer than it may.
    let held = state.noojee_limiter.acquire(leadline_http::noojee::Kind::Update).await.expect("the only turn");
    let body = r#"{"njExternalLeadId":"1"}"#;
    let request = format!(
        "POST /servicemanager/rest/CampaignAPI/updateLeadFast?apiKey={admin}&fCampaignId=1 HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let asked = Instant::now();
    let response = request_within(server.address, &request, Duration::from_secs(5)).await.expect("an answer");
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains("request_timeout_seconds"), "{response}");
    assert!(asked.elapsed() < Duration::from_secs(2), "answered after {:?}", asked.elapsed());
    drop(held);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_past_the_idle_timeout_is_refused() {
    let settings = HttpSettings { body_idle_timeout: Duration::from_millis(300), ..HttpSettings::default() };
    let (server, state) = start(settings, ServeLimits::default()).await;
    let admin = leadline_app::keys::create(
        &state.app,
        &leadline_app::Principal::operator(),
        &leadline_app::keys::KeyRequest { role: "admin".into(), ..Default::default() },
    )
    .await
    .unwrap()
    .secret;
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    let head = format!(
        "POST /v1/leads HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let asked = Instant::now();
    let mut response = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut response)).await;
    let n = read.expect("an answer before the client finishes its body").unwrap();
    let response = String::from_utf8_lossy(&response[..n]);
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(asked.elapsed() < Duration::from_secs(2), "answered after {:?}", asked.elapsed());
    // A dialect reading the body itself says so in its own shape.
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    let head = "POST /api/1/get.asmx/Verticals HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\napi_key=";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut response)).await.expect("an answer").unwrap();
    let response = String::from_utf8_lossy(&response[..n]);
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("<message>The request body could not be read"), "{response}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_a_socket_are_counted_by_their_client_address() {
    let one = leadline_http::rate_limit::GroupLimits { per_key_per_minute: 0, per_address_per_minute: 1 };
    let settings = HttpSettings {
        rate_limits: leadline_http::rate_limit::RateLimits { native: one, ..Default::default() },
        ..HttpSettings::default()
    };
    let (server, _) = start(settings, ServeLimits::default()).await;
    let keyless = "GET /v1/verticals HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    let first = request_within(server.address, keyless, Duration::from_secs(5)).await.expect("an answer");
    assert!(first.starts_with("HTTP/1.1 401"), "{first}");
    let second = request_within(server.address, keyless, Duration::from_secs(5)).await.expect("an answer");
    assert!(second.starts_with("HTTP/1.1 429"), "{second}");
    assert!(second.to_ascii_lowercase().contains("retry-after: "), "{second}");
    server.stop().await;
}
