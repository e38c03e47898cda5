//! The `leadline` command: the server and the operator's tools, over one database.

#![forbid(unsafe_code)]

mod archive_cmd;
mod config;
mod demo;
mod lists;
mod telemetry;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use leadline_app::backup;
use leadline_app::keys::KeyRequest;
use leadline_app::{keys, App, Principal};

use crate::config::{Config, ConfigArgs};

/// mimalloc instead of the system allocator: a list load hands many small allocations from the
/// parser thread to the writer thread, where glibc's per-thread arenas contend (the bench's
/// 200,000-row import went from 33,500 to 46,300 rows/s with it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "leadline",
    version,
    about = "Leadline: one store for every lead, speaking the lead APIs your integrations already use"
)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (creates and migrates the database; prints an admin key on first start).
    Serve {
        /// Load a demo catalog and demo leads (idempotent), so every API can be tried at once.
        #[arg(long)]
        demo: bool,
    },
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Upsert a catalog file `{"<collection>": [objects…]}` in one transaction.
    Apply {
        /// The catalog file (JSON).
        file: PathBuf,
    },
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Move leads to the archive in batches (Leadline's store, or [vicidial] database_url).
    Archive(archive_cmd::ArchiveArgs),
    /// Bring archived leads back to the live table in batches.
    Dearchive(archive_cmd::ArchiveArgs),
    /// Load a CSV file of leads into a campaign allocation (resumable; see docs/IMPORT.md).
    Import(lists::ImportArgs),
    /// Write leads out as CSV or NDJSON (the CSV imports back).
    Export(lists::ExportArgs),
    /// Copy the SQLite database to a new FILE, consistently, while servers run (PostgreSQL: use
    /// pg_dump).
    Backup {
        /// The new file to write (never overwritten).
        file: PathBuf,
    },
    /// Check the configuration (file, environment, flags) without starting anything.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Put a backup FILE back as the SQLite database; refused while a server or command has it open.
    Restore {
        /// The backup to put back.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Read the configuration as `serve` would and say what is wrong (unknown keys, bad values),
    /// or print the settings in force, secrets hidden. Opens no database and no port.
    Check,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; the secret is printed alone on the last line, once.
    Create(CreateKey),
    /// List keys (never their secrets).
    List,
    /// Revoke a key; it is refused from the next request on.
    Revoke { id: i64 },
    /// Issue iVvy signing credentials (access key and secret) for a key, ending any it had.
    IvvyCredentials { id: i64 },
}

#[derive(Args)]
struct CreateKey {
    /// admin, buyer, dialer, archiver or readonly.
    #[arg(long)]
    role: String,
    /// The buyer a buyer key acts for.
    #[arg(long = "buyer")]
    buyer: Option<i64>,
    /// A campaign a dialer key may work (repeat for several).
    #[arg(long = "campaign")]
    campaigns: Vec<i64>,
    /// Lifetime such as 90d, 12h or 30m; no expiry when left out.
    #[arg(long)]
    expires_in: Option<String>,
    /// A name to tell the key apart in listings.
    #[arg(long)]
    name: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("leadline: {error:#}");
            return ExitCode::from(2);
        }
    };
    if let Command::Config(ConfigCommand::Check) = cli.command {
        match &config.file {
            Some(path) => println!("{} is a valid configuration; the settings in force:", path.display()),
            None => println!("no configuration file; the settings in force (environment, flags, defaults):"),
        }
        for line in config.summary() {
            println!("  {line}");
        }
        return match telemetry::OtlpTarget::from_vars(|name| std::env::var(name).ok()) {
            Ok(Some(target)) => {
                let headers = target.header_names.join(", ");
                println!("  OpenTelemetry trace export to {} (headers: {headers})", target.endpoint_for_logs());
                ExitCode::SUCCESS
            }
            Ok(None) => {
                println!("  OpenTelemetry trace export off");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("leadline: {error:#}");
                ExitCode::from(2)
            }
        };
    }
    let telemetry = match telemetry::init(&config) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("leadline: {error:#}");
            return ExitCode::from(2);
        }
    };
    if telemetry.exporting() || matches!(cli.command, Command::Serve { .. }) {
        telemetry.log_state();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime starts");
    let outcome = runtime.block_on(run(cli.command, config));
    // After the runtime's work and outside it: the last spans, the server's shutdown among them.
    telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("leadline: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn open(config: &Config) -> anyhow::Result<App> {
    App::open(&config.database_url, &config.pool())
        .await
        .with_context(|| format!("could not open the database at {}", config.database_url_for_logs()))
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match &command {
        Command::Backup { file } => return backup(&config, file),
        Command::Restore { file } => return restore(&config, file),
        _ => {}
    }
    // Held until the command ends, so `leadline restore` knows the database is in use.
    let _in_use = match backup::sqlite_file(&config.database_url) {
        Ok(Some(path)) => Some(backup::DatabaseLock::shared(&path)?),
        _ => None,
    };
    let app = open(&config).await?;
    let operator = Principal::operator();
    match command {
        Command::Serve { demo } => serve(app, config, demo).await,
        Command::Archive(args) => {
            archive_cmd::run(&app, &config, leadline_core::archive::Direction::Archive, args).await
        }
        Command::Dearchive(args) => {
            archive_cmd::run(&app, &config, leadline_core::archive::Direction::Dearchive, args).await
        }
        Command::Backup { .. } | Command::Restore { .. } | Command::Config(_) => {
            unreachable!("run without the database open")
        }
        Command::Import(args) => lists::import(&app, &operator, args).await,
        Command::Export(args) => lists::export(&app, &operator, args).await,
        Command::Migrate => {
            println!("database at {} is up to date", config.database_url_for_logs());
            Ok(())
        }
        Command::Apply { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("could not read {}", file.display()))?;
            let value: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", file.display()))?;
            let report = leadline_app::catalog::apply(&app, &operator, &value).await?;
            println!(
                "applied {}: {} created, {} updated, {} unchanged",
                file.display(),
                report.created,
                report.updated,
                report.unchanged
            );
            Ok(())
        }
        Command::Keys(KeysCommand::Create(args)) => {
            let request = KeyRequest {
                role: args.role,
                name: args.name,
                buyer_id: args.buyer,
                campaign_ids: args.campaigns,
                expires_in: args.expires_in,
            };
            let created = keys::create(&app, &operator, &request).await?;
            println!(
                "created key {} ({}, role {}{}); it is shown only now:",
                created.key.id,
                created.key.name,
                created.key.role,
                created.key.expires_at.map(|t| format!(", expires {t}")).unwrap_or_default()
            );
            println!("{}", created.secret);
            Ok(())
        }
        Command::Keys(KeysCommand::List) => {
            println!("{:>5}  {:<9} {:<9} {:<24} {:<10} STATE", "ID", "PREFIX", "ROLE", "NAME", "SCOPE");
            let now = app.now();
            for key in keys::list(&app, &operator).await? {
                let scope = match (key.buyer_id, key.campaign_ids.is_empty()) {
                    (Some(buyer), _) => format!("buyer {buyer}"),
                    (None, false) => format!("campaigns {:?}", key.campaign_ids),
                    _ => "-".into(),
                };
                let state = match (key.revoked_at, key.expires_at) {
                    (Some(at), _) => format!("revoked {at}"),
                    (None, Some(at)) if at <= now => format!("expired {at}"),
                    (None, Some(at)) => format!("expires {at}"),
                    (None, None) => "active".into(),
                };
                println!("{:>5}  {:<9} {:<9} {:<24} {:<10} {state}", key.id, key.prefix, key.role, key.name, scope);
            }
            Ok(())
        }
        Command::Keys(KeysCommand::IvvyCredentials { id }) => {
            let server_key = config
                .ivvy
                .server_key
                .as_ref()
                .context("set ivvy_signing_key in the configuration file or LEADLINE_IVVY_SIGNING_KEY first")?;
            let credential = leadline_app::signing::issue(&app, &operator, server_key, id).await?;
            println!("iVvy credentials for key {id}; the secret is shown only now:");
            println!("access key: {}", credential.access_key);
            println!("secret:     {}", credential.secret);
            Ok(())
        }
        Command::Keys(KeysCommand::Revoke { id }) => {
            let key = keys::revoke(&app, &operator, id).await?;
            println!("revoked key {} ({})", key.id, key.name);
            Ok(())
        }
    }
}

fn backup(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    let database =
        backup::sqlite_file(&config.database_url)?.context("an in-memory database has no file to back up")?;
    let copy = backup::backup(&database, file)?;
    println!("backed up {} to {} ({} bytes, {} leads)", database.display(), file.display(), copy.bytes, copy.leads);
    Ok(())
}

fn restore(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    let database = backup::sqlite_file(&config.database_url)?.context("an in-memory database cannot be restored")?;
    let restored = backup::restore(file, &database)?;
    println!("restored {} from {} ({} leads)", database.display(), file.display(), restored.leads);
    Ok(())
}

async fn serve(app: App, config: Config, demo: bool) -> anyhow::Result<()> {
    let app = App { upload_limits: config.upload_limits, ..app };
    if demo {
        let summary = demo::load(&app).await.context("could not load the demo data")?;
        println!("{summary}");
    }
    let first_key = if keys::any_exist(&app).await? {
        None
    } else {
        let request =
            KeyRequest { role: "admin".into(), name: Some("first admin key".into()), ..KeyRequest::default() };
        Some(keys::create(&app, &Principal::operator(), &request).await?.secret)
    };
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("could not listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    let base = format!("http://{address}");
    println!("Leadline is listening on {base} (database {})", config.database_url_for_logs());
    match &first_key {
        Some(secret) => {
            println!(
                "\nFirst start: this admin API key was created. It is shown only now; keep it safe:\n\n    {secret}\n"
            );
            println!("Try it:");
            println!("  curl -s {base}/healthz");
            println!("  curl -s -H 'Authorization: Bearer {secret}' {base}/v1/verticals");
            println!("  curl -s -H 'Authorization: Bearer {secret}' -H 'Content-Type: application/json' \\\n       -d '{{\"name\":\"Ann Lee\",\"phones\":[\"02 9999 0000\"]}}' {base}/v1/leads");
        }
        None => println!("\nCreate a key with `leadline keys create --role admin` if you have none at hand."),
    }
    println!("Operator console: {base}/console (sign in with an API key)");
    println!("API reference: {base}/docs   OpenAPI: {base}/openapi.json   Metrics: {base}/metrics");
    tracing::info!(%address, "serving");
    leadline_http::trace::set_slow_request_threshold(config.slow_request);
    let router = leadline_http::router(app.clone(), config.http());
    // Webhooks of disposition actions are delivered by a worker beside the server; both stop
    // on the same signal.
    let worker = leadline_app::outbox::Worker::new(app.clone(), config.webhooks()).await?;
    let (stop, stopped) = tokio::sync::watch::channel(());
    let mut worker_stopped = stopped.clone();
    let worker = tokio::spawn(worker.run(async move {
        let _ = worker_stopped.changed().await;
    }));
    // CSV imports sent over HTTP run on every node; the database decides which node runs each.
    let mut imports_stopped = stopped.clone();
    let import_worker = tokio::spawn(leadline_http::native::imports::run_worker(app.clone(), async move {
        let _ = imports_stopped.changed().await;
    }));
    leadline_http::server::serve(listener, router, config.serve.clone(), async move {
        shutdown_signal().await;
        let _ = stop.send(());
    })
    .await?;
    drop(stopped);
    let _ = worker.await;
    let _ = import_worker.await;
    app.store.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
