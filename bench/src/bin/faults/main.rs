//! Fault injection: the `leadline` server run as a child process on loopback, under a write load
//! through the native API, while something goes wrong underneath it. Each scenario is bounded in
//! rounds and time, stops by itself, and prints what was written, what the database holds
//! afterwards and every violation found (the exit code is 1 when there is one).
//!
//! ```sh
//! cargo build -p leadline -p leadline-bench            # the server binary beside this program
//! B=target/debug/faults
//! $B kill --database sqlite --rounds 20                # kill -9 at random moments
//! $B check sqlite://leadline.db                         # the database checks alone
//! $B kill --database postgres://postgres@127.0.0.1:5432/postgres --rounds 20
//! $B pg-restart --postgres postgres://postgres@127.0.0.1:5433/postgres \
//!     --stop 'pg_ctlcluster 15 faults stop -m fast' --start 'pg_ctlcluster 15 faults start'
//! $B disk-full --size-mib 64                            # needs root: mounts a tmpfs
//! $B soak --minutes 30 --rate 200                       # resident memory every 30 s
//! ```
//!
//! What each checks is in docs/OPERATIONS.md ("Fault injection").

#![forbid(unsafe_code)]

mod check;
mod client;
mod disk;
mod kill;
mod load;
mod outage;
mod server;
mod soak;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Fault injection against a leadline server on loopback")]
struct Args {
    /// The `leadline` binary (default: the one built beside this program).
    #[arg(long, global = true)]
    server: Option<PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// SIGKILL the server at a random moment of a write load, restart it on the same database
    /// and check the database, round after round.
    Kill(kill::Args),
    /// Stop PostgreSQL under a write load on two nodes, start it again, and check that requests
    /// meanwhile got a clear 503 in time, that the nodes recover, and that nothing was lost.
    PgRestart(outage::Args),
    /// Fill the file system under a SQLite database (a tmpfs mounted for the run), then free it.
    DiskFull(disk::Args),
    /// A steady mixed load for a while, sampling the server's resident memory.
    Soak(soak::Args),
    /// Check a database alone: every lead's history chain whole, every fee and sale in its
    /// lead's history and the other way round, each lead's city as its history says.
    Check {
        /// The database URL, as `leadline --database-url` takes it.
        url: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let violations = match args.scenario {
        Scenario::Kill(a) => kill::run(args.server, a).await?,
        Scenario::PgRestart(a) => outage::run(args.server, a).await?,
        Scenario::DiskFull(a) => disk::run(args.server, a).await?,
        Scenario::Soak(a) => soak::run(args.server, a).await?,
        Scenario::Check { url } => {
            let snapshot = check::snapshot(&url).await?;
            let violations = snapshot.whole();
            println!(
                "{} leads, {} history rows, {} violations",
                snapshot.leads(),
                snapshot.history_rows(),
                violations.len()
            );
            print_violations(&violations, 20);
            violations.len()
        }
    };
    if violations > 0 {
        println!("FAILED: {violations} violations");
        std::process::exit(1);
    }
    println!("passed: no violations");
    Ok(())
}

/// Prints up to `limit` violations, and how many more there are.
fn print_violations(violations: &[String], limit: usize) {
    for violation in violations.iter().take(limit) {
        println!("  violation: {violation}");
    }
    if violations.len() > limit {
        println!("  … and {} more", violations.len() - limit);
    }
}
