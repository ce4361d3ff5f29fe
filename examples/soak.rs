//! Overload: a million items through scatter → map → buffered(256) → gather on two worker
//! processes, printing the peak memory (VmHWM) of the client and of each worker at 100,000 items
//! and at the end. Flat figures mean nothing is kept per item.
//!
//! ```text
//! cargo run --release --example soak [ITEMS] [--accumulate]
//! ```
//!
//! `--accumulate` runs `accumulate(0, running_sum)` instead of `map(inc)`: a chain of tasks, each
//! state the input of the next, whose values on the workers and lineage here must stay bounded
//! by the buffer too.
//!
//! Progress (every 5 % of the items) goes to standard error, the figures to standard output.

use std::time::Instant;

use futures::StreamExt as _;
use rivulet::prelude::*;
use rivulet::remote::transport::{TransportSettings, Trust};
use rivulet::remote::{ClientAuth, ConnectConfig};
use rivulet::worker::WorkerProcess;

#[rivulet::remote]
fn inc(x: i64) -> i64 {
    x + 1
}

#[rivulet::remote]
fn running_sum(total: i64, x: i64) -> (i64, i64) {
    (total + x, total + x)
}

/// The peak resident set of a process, in MiB, from /proc (Linux).
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn report(seen: u64, start: Instant, workers: &[WorkerProcess]) {
    let client = peak_rss_mib(std::process::id()).unwrap_or(f64::NAN);
    let workers: Vec<String> = workers
        .iter()
        .map(|w| format!("{:.1}", w.pid().and_then(peak_rss_mib).unwrap_or(f64::NAN)))
        .collect();
    println!(
        "{seen:>9} items  {:>7.0} items/s  peak RSS: client {client:.1} MiB, workers {} MiB",
        seen as f64 / start.elapsed().as_secs_f64(),
        workers.join(" / ")
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    rivulet::worker::run_if_worker();
    let accumulate = std::env::args().any(|a| a == "--accumulate");
    let items: u64 = match std::env::args().skip(1).find(|a| !a.starts_with("--")) {
        Some(n) => n.parse()?,
        None => 1_000_000,
    };
    let secret = b"soak".to_vec();
    let mut workers = Vec::new();
    for _ in 0..2 {
        workers.push(WorkerProcess::spawn(2, &secret, &TransportSettings::default(), &[]).await?);
    }
    let trust = Trust::Pinned(workers.iter().map(|w| w.certificate().clone()).collect());
    let client = rivulet::Client::connect(
        workers
            .iter()
            .map(WorkerProcess::local_addr)
            .collect::<Vec<_>>(),
        ConnectConfig::new(trust, ClientAuth::Secret(secret)),
    )
    .await?;

    let start = Instant::now();
    let scattered = futures::stream::iter(0..items as i64).scatter(&client);
    let remote = if accumulate {
        scattered.accumulate(0, running_sum)
    } else {
        scattered.map(inc)
    };
    let mut gathered = remote.buffered(256).gather();
    let (mut seen, mut total) = (0u64, 0i64);
    let progress_every = (items / 20).max(1);
    while let Some(result) = gathered.next().await {
        total += seen as i64;
        let expected = if accumulate { total } else { seen as i64 + 1 };
        assert_eq!(result, Ok(expected), "items come out once, in order");
        seen += 1;
        if seen == 100_000 || seen == items {
            report(seen, start, &workers);
        } else if seen % progress_every == 0 {
            eprintln!(
                "{seen:>9} / {items} items ({:>3}%), {:.0} items/s",
                seen * 100 / items,
                seen as f64 / start.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
