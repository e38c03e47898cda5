//! The accept loop: HTTP/1.1 connections served by hyper with a timer, so that a client that is
//! slow to send its request head (or idles on a kept-alive connection) is cut off; a cap on open
//! connections; and a graceful shutdown that gives connections a bounded time to finish.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// Connection-level limits; see the configuration table in README.md.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// Time a client has to send a whole request head, counted from its first byte or, on a
    /// kept-alive connection, from the end of the previous response (so it also ends idle
    /// keep-alive connections).
    pub header_read_timeout: Duration,
    /// Connections open at once. Further clients are not accepted until one closes: they wait in
    /// the kernel's listen backlog (and are refused by the kernel when that is full).
    pub max_connections: usize,
    /// After the shutdown signal, how long connections get to finish the request in flight
    /// before they are closed.
    pub shutdown_grace: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 2048,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// What the connection tasks are told, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Serving,
    /// Finish the request in flight, take no other.
    Draining,
    /// The grace time is over: drop the connection.
    Closing,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the requests in flight
/// finish for at most `limits.shutdown_grace`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Capped so that the shutdown can take every permit back in one call.
    let max_connections = limits.max_connections.clamp(1, u32::MAX as usize >> 3);
    let open = Arc::new(Semaphore::new(max_connections));
    let (phase, _) = watch::channel(Phase::Serving);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let mut shutdown = pin!(shutdown);
    loop {
        // A slot first, then a connection: at the cap, clients queue in the kernel, not here.
        let slot = tokio::select! {
            slot = open.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut request: axum::extract::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                request
            },
        ));
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let mut phase = phase.subscribe();
        tokio::spawn(async move {
            let _slot = slot;
            let mut connection = pin!(connection);
            let mut draining = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%peer, %error, "connection ended with an error");
                        }
                        break;
                    }
                    changed = phase.changed() => {
                        let now = if changed.is_ok() { *phase.borrow_and_update() } else { Phase::Closing };
                        if now == Phase::Closing {
                            tracing::debug!(%peer, "connection closed at the end of the shutdown grace time");
                            break;
                        }
                        if !draining {
                            draining = true;
                            connection.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    phase.send_replace(Phase::Draining);
    let in_use = max_connections as u32;
    let all_closed = tokio::time::timeout(limits.shutdown_grace, open.acquire_many(in_use)).await;
    if all_closed.is_err() {
        let still_open = max_connections - open.available_permits();
        tracing::warn!(still_open, "shutdown grace time over: closing the connections still open");
        phase.send_replace(Phase::Closing);
        // Each task drops its connection as soon as it sees Closing.
        let _ = tokio::time::timeout(Duration::from_secs(5), open.acquire_many(in_use)).await;
    }
    Ok(())
}

/// Errors of one connection (reset before it was accepted) are skipped; others, such as running
/// out of file descriptors, are logged and the loop pauses before accepting again.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(%error, "could not accept a connection");
    tokio::time::sleep(Duration::from_millis(200)).await;
}
