//! The `leadline` binary as a child process: started on a loopback port and a given database,
//! waited for until it answers, killed with SIGKILL or stopped, and measured (resident memory).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::client::{apply_catalog, Client};

/// Where to find the binary and what to run it on.
#[derive(Clone)]
pub struct ServerSpec {
    pub binary: PathBuf,
    pub database_url: String,
    /// The working directory: holds the server's log and, when given, its `leadline.toml`.
    pub dir: PathBuf,
}

impl ServerSpec {
    /// `binary`, or the `leadline` built beside this program (`cargo build -p leadline -p leadline-bench`).
    pub fn new(binary: Option<PathBuf>, database_url: String, dir: PathBuf) -> anyhow::Result<ServerSpec> {
        let binary = match binary {
            Some(binary) => binary,
            None => std::env::current_exe()?.with_file_name("leadline"),
        };
        anyhow::ensure!(
            binary.is_file(),
            "no server binary at {}: build it (`cargo build -p leadline`) or name it with --server",
            binary.display()
        );
        std::fs::create_dir_all(&dir)?;
        Ok(ServerSpec { binary, database_url, dir })
    }

    /// Writes the `leadline.toml` the server reads from its working directory.
    pub fn configure(&self, toml: &str) -> anyhow::Result<()> {
        std::fs::write(self.dir.join("leadline.toml"), toml).context("writing leadline.toml")
    }

    /// Runs a `leadline` command (not `serve`) on the database and returns its standard output.
    pub fn command(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new(&self.binary)
            .args(args)
            .current_dir(&self.dir)
            .env("LEADLINE_DATABASE_URL", &self.database_url)
            .env("LEADLINE_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {} {}", self.binary.display(), args.join(" ")))?;
        if !output.status.success() {
            bail!("leadline {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// A new admin key's secret (the last line `leadline keys create` prints).
    pub fn admin_key(&self) -> anyhow::Result<String> {
        let out = self.command(&["keys", "create", "--role", "admin", "--name", "fault injection"])?;
        out.lines().last().map(str::trim).map(String::from).context("keys create printed no secret")
    }

    /// A new admin key, and the server started with the load's catalog in place.
    pub async fn start_with_catalog(&self) -> anyhow::Result<(Server, String)> {
        let key = self.admin_key()?;
        let running = self.start().await?;
        apply_catalog(&mut Client::connect(running.address, &key, Duration::from_secs(30)).await?).await?;
        Ok((running, key))
    }

    /// Starts the server on a free loopback port and waits until `/readyz` answers 200.
    pub async fn start(&self) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let address: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path())?;
        let child = Command::new(&self.binary)
            .arg("serve")
            .current_dir(&self.dir)
            .env("LEADLINE_DATABASE_URL", &self.database_url)
            .env("LEADLINE_LISTEN", address.to_string())
            .env("LEADLINE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let mut server = Server { child, address };
        server.wait_ready(Duration::from_secs(60)).await?;
        Ok(server)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }
}

/// A running server process.
pub struct Server {
    child: Child,
    pub address: SocketAddr,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited while starting ({status}); see its log");
            }
            if let Ok(mut client) = Client::connect(self.address, "", Duration::from_secs(2)).await {
                if let Ok(reply) = client.get("/readyz").await {
                    if reply.status == 200 {
                        return Ok(());
                    }
                }
            }
            if started.elapsed() > limit {
                bail!("the server did not become ready within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown, no flush, nothing the process can catch.
    pub fn kill9(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM (through `kill`, keeping this crate free of unsafe code), then waits for the
    /// graceful shutdown; SIGKILL after 40 s.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(40) {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9()
    }
}

/// Resident memory (VmRSS) of process `pid` in KiB, from /proc.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A fresh working directory under the system's temporary directory.
pub fn work_dir(scenario: &str) -> PathBuf {
    let tag = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!("leadline-faults-{scenario}-{tag:x}"))
}
