//! Values that move worker to worker: an `accumulate` over large values made on two workers
//! (its state stays on one, so about half the items must move to it), with worker-to-worker
//! transfer and without it (everything through the client), alternately in the same run.
//! Prints the time, the bytes that came through the client and those that went between the
//! workers, and the workers' own counters.
//!
//! ```text
//! cargo run --release --example transfer            # 200 items of 1 MiB
//! cargo run --release --example transfer -- 50 4    # 50 items of 4 MiB
//! ```

use std::time::Instant;

use futures::StreamExt;
use rivulet::prelude::*;
use rivulet::remote::obs::WorkerStats;
use rivulet::remote::transport::Identity;
use rivulet::remote::transport::Trust;
use rivulet::remote::{ClientAuth, ConnectConfig};
use rivulet::worker::{Worker, WorkerAuth, WorkerConfig};

#[rivulet::remote]
fn blob(spec: (u32, u32)) -> Vec<u8> {
    let (seed, mib) = spec;
    vec![(seed % 251) as u8; (mib as usize) << 20]
}

/// Keeps the last value as the state and says how many bytes the two had.
#[rivulet::remote]
fn follow(state: Vec<u8>, x: Vec<u8>) -> (Vec<u8>, u64) {
    let total = (state.len() + x.len()) as u64;
    (x, total)
}

const SECRET: &[u8] = b"transfer example";

async fn run(items: u32, mib: u32, peer_transfer: bool) -> Result<(), Box<dyn std::error::Error>> {
    let mut certs = Vec::new();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let identity = Identity::self_signed(vec!["localhost".to_owned()])?;
        certs.extend(identity.certs.iter().cloned());
        workers.push(Worker::spawn(
            WorkerConfig::new(identity, WorkerAuth::Secret(SECRET.to_vec())).slots(2),
        )?);
    }
    let mut config = ConnectConfig::new(Trust::Pinned(certs), ClientAuth::Secret(SECRET.to_vec()));
    config.peer_transfer = peer_transfer;
    // Room for a few pairs of large values per client on each worker.
    config.limits.max_value = config.limits.max_value.max((u64::from(mib) + 1) << 20);
    let client = rivulet::Client::connect(workers.iter().map(Worker::local_addr), config).await?;
    let served = WorkerStats::global().peer_bytes_served();
    let started = Instant::now();
    let lengths: Vec<_> = futures::stream::iter((0..items).map(move |i| (i, mib)))
        .scatter(&client)
        .map(blob)
        .buffered(4)
        .accumulate(Vec::new(), follow)
        .gather()
        .collect()
        .await;
    let took = started.elapsed();
    let one = u64::from(mib) << 20;
    let wrong = lengths
        .iter()
        .enumerate()
        .filter(|(i, length)| **length != Ok(if *i == 0 { one } else { 2 * one }))
        .count();
    let metrics = client.metrics();
    println!(
        "{:<22} {items} items of {mib} MiB in {:>7.1} ms ({wrong} wrong): through the client {:>6.1} MiB, between workers {:>6.1} MiB (workers served {:.1} MiB)",
        if peer_transfer {
            "worker to worker:"
        } else {
            "through the client:"
        },
        took.as_secs_f64() * 1e3,
        metrics.bytes_moved_through_client() as f64 / (1 << 20) as f64,
        metrics.bytes_moved_between_workers() as f64 / (1 << 20) as f64,
        (WorkerStats::global().peer_bytes_served() - served) as f64 / (1 << 20) as f64,
    );
    client.shutdown().await;
    for worker in workers {
        worker.shutdown().await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let items: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let mib: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1);
    for round in 0..3 {
        println!("round {}", round + 1);
        run(items, mib, false).await?;
        run(items, mib, true).await?;
    }
    Ok(())
}
