//! A small native-API client: one keep-alive HTTP/1.1 connection, a bearer key, and a bound on
//! every request, so a server that hangs shows as a timeout instead of stopping the program.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;

pub struct Reply {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Value,
}

/// How a request failed to get an answer.
#[derive(Debug)]
pub enum NoAnswer {
    /// No answer within the bound.
    Timeout,
    /// The connection could not be made or broke.
    Connection(String),
}

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoAnswer::Timeout => write!(f, "no answer within the bound"),
            NoAnswer::Connection(why) => write!(f, "connection: {why}"),
        }
    }
}

pub struct Client {
    address: SocketAddr,
    key: String,
    bound: Duration,
    sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
}

impl Client {
    /// A client of `address` with the bearer `key` (empty: none), each request bounded by `bound`.
    pub async fn connect(address: SocketAddr, key: &str, bound: Duration) -> anyhow::Result<Client> {
        let mut client = Client { address, key: key.to_string(), bound, sender: None };
        client.open().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(client)
    }

    /// A client that connects on its first request.
    pub fn lazy(address: SocketAddr, key: &str, bound: Duration) -> Client {
        Client { address, key: key.to_string(), bound, sender: None }
    }

    async fn open(&mut self) -> Result<(), NoAnswer> {
        let connect = tokio::net::TcpStream::connect(self.address);
        let stream = match tokio::time::timeout(self.bound, connect).await {
            Err(_) => return Err(NoAnswer::Timeout),
            Ok(Err(e)) => return Err(NoAnswer::Connection(e.to_string())),
            Ok(Ok(stream)) => stream,
        };
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| NoAnswer::Connection(e.to_string()))?;
        tokio::spawn(connection);
        self.sender = Some(sender);
        Ok(())
    }

    pub async fn get(&mut self, path: &str) -> Result<Reply, NoAnswer> {
        self.send("GET", path, None).await
    }

    pub async fn post(&mut self, path: &str, body: &Value) -> Result<Reply, NoAnswer> {
        self.send("POST", path, Some(body)).await
    }

    pub async fn patch(&mut self, path: &str, body: &Value) -> Result<Reply, NoAnswer> {
        self.send("PATCH", path, Some(body)).await
    }

    pub async fn put(&mut self, path: &str, body: &Value) -> Result<Reply, NoAnswer> {
        self.send("PUT", path, Some(body)).await
    }

    /// Sends one request; a connection that broke is dropped and the next request opens another.
    pub async fn send(&mut self, method: &str, path: &str, body: Option<&Value>) -> Result<Reply, NoAnswer> {
        let bound = self.bound;
        match tokio::time::timeout(bound, self.exchange(method, path, body)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => {
                self.sender = None;
                Err(error)
            }
            Err(_) => {
                self.sender = None;
                Err(NoAnswer::Timeout)
            }
        }
    }

    async fn exchange(&mut self, method: &str, path: &str, body: Option<&Value>) -> Result<Reply, NoAnswer> {
        if self.sender.as_ref().is_none_or(|sender| sender.is_closed()) {
            self.open().await?;
        }
        let sender = self.sender.as_mut().expect("opened above");
        sender.ready().await.map_err(|e| NoAnswer::Connection(e.to_string()))?;
        let mut request = hyper::Request::builder().method(method).uri(path).header("host", self.address.to_string());
        if !self.key.is_empty() {
            request = request.header("authorization", format!("Bearer {}", self.key));
        }
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Full::new(Bytes::from(body.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request.body(body).map_err(|e| NoAnswer::Connection(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(|e| NoAnswer::Connection(e.to_string()))?;
        let status = response.status().as_u16();
        let header = |name: hyper::header::HeaderName| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(String::from)
        };
        let retry_after = header(hyper::header::RETRY_AFTER);
        let bytes = response.into_body().collect().await.map_err(|e| NoAnswer::Connection(e.to_string()))?.to_bytes();
        let body =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        Ok(Reply { status, retry_after, body })
    }
}

/// Sends the catalog the write load uses: one vertical, its queue, two queue statuses, a buyer
/// and four contracts a lead may be sold under; and a Noojee campaign (template 1, campaign 1,
/// allocation 1).
pub async fn apply_catalog(client: &mut Client) -> anyhow::Result<()> {
    let catalog = serde_json::json!({
        "verticals": [{"id": 32, "name": "Solar"}],
        "queue-statuses": [{"id": 235, "name": "Called"}, {"id": 236, "name": "Voicemail"}],
        "queues": [{"id": 10, "name": "Solar calls", "kind": "call_center", "vertical_id": 32}],
        "contact-hours": [{"id": 1, "name": "Melbourne", "timezone": "Australia/Melbourne", "schedule": []}],
        "campaign-templates": [{"id": 1, "name": "Faults", "contact_hours_id": 1, "phone_country": "AU", "fields": [
            {"name": "Name", "kind": "text"}, {"name": "City", "kind": "text"}, {"name": "FirstPhone", "kind": "phone"}]}],
        "campaigns": [{"id": 1, "template_id": 1, "name": "Faults"}],
        "allocations": [{"id": 1, "campaign_id": 1, "name": "Faults"}],
        "buyers": [{"id": 1, "name": "Acme"}],
        "buyer-contracts": [
            {"id": 7, "buyer_id": 1, "vertical_id": 32, "name": "Solar A", "price": "12.50", "replace_returns": false},
            {"id": 8, "buyer_id": 1, "vertical_id": 32, "name": "Solar B", "price": "9.99", "replace_returns": false},
            {"id": 9, "buyer_id": 1, "vertical_id": 32, "name": "Solar C", "price": "7.00", "replace_returns": false},
            {"id": 10, "buyer_id": 1, "vertical_id": 32, "name": "Solar D", "price": "3.10", "replace_returns": false}
        ]
    });
    let reply = client.put("/v1/catalog", &catalog).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(reply.status == 200, "the catalog was refused: {} {}", reply.status, reply.body);
    Ok(())
}

/// The contracts of [`apply_catalog`].
pub const CONTRACTS: [i64; 4] = [7, 8, 9, 10];
