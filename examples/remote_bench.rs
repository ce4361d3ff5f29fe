//! Figures for the distributed mode, printed as medians over several runs.
//!
//! ```text
//! cargo run --release --example remote_bench
//! cargo run --release --example remote_bench -- --dashboard
//! ```
//!
//! With `--dashboard` both clients serve their dashboard, and a stand-in for a browser and a
//! Prometheus server reads `/api/state` twice a second and `/metrics` once a second while the
//! figures are taken: the cost of watching.
//!
//! - throughput of a trivial `inc` through scatter → map → buffered(64) → gather, on two
//!   in-process workers and on two child-process workers;
//! - round-trip latency (p50, p99) of one item at a time (buffered(1));
//! - start-up time of `Client::local(2)`;
//! - the single-machine baseline: the same `inc` through `tokio::task::spawn_blocking` under
//!   `futures::StreamExt::buffered(64)`, and the ratio.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use rivulet::Client;
use rivulet::prelude::*;

#[rivulet::remote]
fn inc(x: i64) -> i64 {
    x + 1
}

const ITEMS: i64 = 20_000;
const RUNS: usize = 5;
const LATENCY_ITEMS: usize = 2_000;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// Items per second through scatter → map → buffered(64) → gather.
async fn remote_throughput(client: &Client) -> f64 {
    let start = Instant::now();
    let gathered = futures::stream::iter(0..ITEMS)
        .scatter(client)
        .map(inc)
        .buffered(64)
        .gather()
        .fold(0_i64, |count, result| async move {
            assert!(result.is_ok(), "{result:?}");
            count + 1
        })
        .await;
    assert_eq!(gathered, ITEMS);
    ITEMS as f64 / start.elapsed().as_secs_f64()
}

/// Items per second through spawn_blocking under futures' buffered(64): no network at all.
async fn baseline_throughput() -> f64 {
    let start = Instant::now();
    let count = futures::stream::iter(0..ITEMS)
        .map(|x| tokio::task::spawn_blocking(move || inc.call(x)))
        .buffered(64)
        .fold(0_i64, |count, result| async move {
            assert!(result.is_ok());
            count + 1
        })
        .await;
    assert_eq!(count, ITEMS);
    ITEMS as f64 / start.elapsed().as_secs_f64()
}

/// Round trips of one item at a time through scatter → map → buffered(1) → gather.
async fn latencies(client: &Client) -> Vec<Duration> {
    // A queue of one at the source: `emit` returns once the item is queued, so it and the pull
    // of the result can be awaited together.
    let source = Source::with_capacity(1);
    let mut gathered = source
        .stream()
        .scatter(client)
        .map(inc)
        .buffered(1)
        .gather();
    let mut samples = Vec::with_capacity(LATENCY_ITEMS);
    for x in 0..LATENCY_ITEMS as i64 {
        let start = Instant::now();
        let (emitted, result) = tokio::join!(source.emit(x), gathered.next());
        assert!(
            emitted.is_ok() && matches!(result, Some(Ok(_))),
            "{result:?}"
        );
        samples.push(start.elapsed());
    }
    samples.sort();
    samples
}

/// One plain `GET`, read to its end (the dashboard closes after answering `Connection: close`).
async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<usize> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await
}

/// What a browser on the page and a Prometheus server do: read the state twice a second and
/// the metrics once a second.
async fn watch(addr: std::net::SocketAddr) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    for round in 0_u64.. {
        tick.tick().await;
        let state = get(addr, "/api/state").await;
        let metrics = if round % 2 == 0 {
            get(addr, "/metrics").await
        } else {
            Ok(0)
        };
        if state.is_err() || metrics.is_err() {
            eprintln!("the dashboard did not answer: {state:?} {metrics:?}");
            return;
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    rivulet::worker::run_if_worker();

    let mut startups = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let client = Client::local(2).await?;
        startups.push(start.elapsed().as_secs_f64() * 1e3);
        drop(client);
    }

    let dashboard = std::env::args().any(|arg| arg == "--dashboard");
    let with_dashboard = |builder: rivulet::remote::ClientBuilder| {
        if dashboard {
            builder.dashboard("127.0.0.1:0")
        } else {
            builder
        }
    };
    let local = with_dashboard(Client::builder().workers(2)).build().await?;
    let processes = with_dashboard(Client::builder().workers(2).processes(true))
        .build()
        .await?;
    let watchers: Vec<_> = [&local, &processes]
        .into_iter()
        .filter_map(Client::dashboard_addr)
        .map(|addr| tokio::spawn(watch(addr)))
        .collect();
    let mut in_process = Vec::new();
    let mut child = Vec::new();
    let mut baseline = Vec::new();
    for _ in 0..RUNS {
        in_process.push(remote_throughput(&local).await);
        child.push(remote_throughput(&processes).await);
        baseline.push(baseline_throughput().await);
    }
    let latency = latencies(&local).await;

    for watcher in &watchers {
        watcher.abort();
    }

    let (in_process, child, baseline) = (median(in_process), median(child), median(baseline));
    let watched = if dashboard {
        ", dashboard on and polled"
    } else {
        ""
    };
    println!("rivulet remote figures (medians of {RUNS} runs, {ITEMS} items each{watched})");
    println!("  throughput, 2 in-process workers:   {in_process:>10.0} items/s");
    println!("  throughput, 2 child-process workers:{child:>10.0} items/s");
    println!(
        "  baseline spawn_blocking+buffered(64):{baseline:>9.0} items/s  (remote/baseline = {:.3})",
        in_process / baseline
    );
    println!(
        "  round trip, buffered(1): p50 {:.1} µs, p99 {:.1} µs ({LATENCY_ITEMS} items)",
        percentile(&latency, 0.5).as_secs_f64() * 1e6,
        percentile(&latency, 0.99).as_secs_f64() * 1e6
    );
    println!("  start-up of Client::local(2): {:.1} ms", median(startups));
    Ok(())
}
