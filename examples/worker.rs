//! A standalone rivulet worker.
//!
//! ```text
//! cargo run --release --example worker -- --listen 0.0.0.0:7878 --slots 8 \
//!     --cert certs/worker.pem --key certs/worker.key.pem --secret-file certs/secret
//! ```
//!
//! `--metrics 127.0.0.1:9464` also serves the worker's own counters (tasks run and failed, busy
//! slots, values held) at `http://127.0.0.1:9464/metrics` for Prometheus.
//!
//! Make the certificate files with `cargo run --example make_certs -- certs`. The worker runs the
//! remote functions compiled into this binary: build your own worker the same way (it is a few
//! lines around `rivulet::worker::serve`) so that it carries your functions.

use std::net::SocketAddr;
use std::path::PathBuf;

use rivulet::remote::transport::{Identity, Trust};
use rivulet::worker::{WorkerAuth, WorkerConfig};

const USAGE: &str = "usage: worker --cert FILE --key FILE (--secret-file FILE | --client-ca FILE) \
[--listen ADDR] [--slots N] [--metrics ADDR]";

struct Args {
    listen: SocketAddr,
    slots: Option<usize>,
    cert: PathBuf,
    key: PathBuf,
    secret_file: Option<PathBuf>,
    client_ca: Option<PathBuf>,
    metrics: Option<SocketAddr>,
}

fn parse_args() -> Result<Args, String> {
    let mut listen: SocketAddr = "127.0.0.1:7878".parse().map_err(|e| format!("{e}"))?;
    let (mut slots, mut cert, mut key, mut secret_file, mut client_ca) =
        (None, None, None, None, None);
    let mut metrics = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--listen" => listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--slots" => slots = Some(value()?.parse().map_err(|e| format!("--slots: {e}"))?),
            "--cert" => cert = Some(PathBuf::from(value()?)),
            "--key" => key = Some(PathBuf::from(value()?)),
            "--secret-file" => secret_file = Some(PathBuf::from(value()?)),
            "--client-ca" => client_ca = Some(PathBuf::from(value()?)),
            "--metrics" => metrics = Some(value()?.parse().map_err(|e| format!("--metrics: {e}"))?),
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(Args {
        listen,
        slots,
        cert: cert.ok_or(USAGE)?,
        key: key.ok_or(USAGE)?,
        secret_file,
        client_ca,
        metrics,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let identity = Identity::from_pem_files(&args.cert, &args.key)?;
    let auth = match (&args.secret_file, &args.client_ca) {
        (Some(path), None) => WorkerAuth::Secret(std::fs::read(path)?.trim_ascii().to_vec()),
        (None, Some(path)) => WorkerAuth::ClientCertificates(Trust::ca_from_pem_file(path)?),
        _ => {
            eprintln!("give exactly one of --secret-file and --client-ca\n{USAGE}");
            std::process::exit(2);
        }
    };
    let mut config = WorkerConfig::new(identity, auth).listen(args.listen);
    if let Some(slots) = args.slots {
        config = config.slots(slots);
    }
    // Served until the worker stops (the handle is dropped at the end of main).
    let metrics = match args.metrics {
        Some(addr) => Some(rivulet::remote::obs::serve_metrics(addr).await?),
        None => None,
    };
    println!(
        "rivulet worker listening on {} with {} slots",
        args.listen, config.slots
    );
    if let Some(metrics) = &metrics {
        println!("metrics at http://{}/metrics", metrics.local_addr());
    }
    // SIGTERM (or Ctrl-C): finish the tasks running, then stop.
    rivulet::worker::serve_until(config, stop_signal()).await?;
    println!("rivulet worker stopped");
    Ok(())
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
