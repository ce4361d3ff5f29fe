//! A worker and a client built from the same code, to try workers on other machines (and for
//! the tests that run workers on hosts of their own): `rivulet-demo worker --help`.
//!
//! - `rivulet-demo worker FLAGS`: a worker ([`rivulet::worker::main_with`]) that carries this
//!   binary's two remote functions, `crunch` and `nap`.
//! - `rivulet-demo call --addr ADDR --ca FILE --secret-file FILE --nap-ms N`: one task that
//!   sleeps N ms on that worker; prints its result.
//! - `rivulet-demo stream --name HOST:PORT --ca FILE --secret-file FILE --items N`: finds the
//!   workers behind a DNS name ([`rivulet::Client::discover`]), streams N items through `crunch`
//!   on them and checks that every item came back once, in order; prints membership changes as
//!   they happen and a summary at the end.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use rivulet::remote::{ClientAuth, ConnectConfig, Trust};

mod stream;

/// Some work for an item: a little arithmetic and a short sleep.
#[rivulet::remote]
fn crunch(x: u64) -> u64 {
    std::thread::sleep(Duration::from_micros(500));
    crunch_value(x)
}

/// What `crunch` gives for `x`, computed here to check what comes back.
fn crunch_value(x: u64) -> u64 {
    x.wrapping_mul(2_654_435_761) % 1_000_003
}

/// Sleeps `ms` milliseconds, then gives `ms` back: a task that stays in flight.
#[rivulet::remote]
fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[derive(Debug, Parser)]
#[command(
    name = "rivulet-demo",
    version,
    about = "A rivulet worker and client of one build."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a worker (carrying `crunch` and `nap`).
    Worker(rivulet::worker::Args),
    /// Run one `nap` task on one worker and print its result.
    Call(Call),
    /// Stream items through the workers behind a DNS name, checking each on the way out.
    Stream(stream::StreamArgs),
}

/// How a client reaches the workers.
#[derive(Debug, clap::Args)]
struct Access {
    /// The CA (PEM) that signed the workers' certificates.
    #[arg(long, env = "RIVULET_CA", value_name = "FILE")]
    ca: PathBuf,
    /// The workers' shared secret.
    #[arg(long, env = "RIVULET_SECRET_FILE", value_name = "FILE")]
    secret_file: PathBuf,
}

impl Access {
    fn config(&self) -> Result<ConnectConfig, String> {
        let trust = Trust::ca_from_pem_file(&self.ca).map_err(|e| e.to_string())?;
        let secret = read_secret(&self.secret_file)?;
        Ok(ConnectConfig::new(trust, ClientAuth::Secret(secret)))
    }
}

fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read the secret file {}: {e}", path.display()))?;
    Ok(bytes.trim_ascii().to_vec())
}

#[derive(Debug, clap::Args)]
struct Call {
    /// The worker's address.
    #[arg(long)]
    addr: SocketAddr,
    #[command(flatten)]
    access: Access,
    /// How long the task sleeps.
    #[arg(long, default_value_t = 1000)]
    nap_ms: u64,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Worker(args) => rivulet::worker::main_with(args),
        Command::Call(call) => client_main(run_call(call)),
        Command::Stream(args) => client_main(stream::run(args)),
    }
}

/// Runs a client command on a runtime of its own: exit code 0 if it succeeded.
fn client_main(run: impl std::future::Future<Output = Result<(), String>>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("rivulet-demo: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("rivulet-demo: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run_call(call: Call) -> Result<(), String> {
    let config = call.access.config()?;
    let client = rivulet::Client::connect([call.addr], config)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let result = client
        .submit(nap, call.nap_ms)
        .fetch()
        .await
        .map_err(|e| e.to_string())?;
    println!("result {result} after {} ms", started.elapsed().as_millis());
    client.shutdown().await;
    Ok(())
}
