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
//!   in-process workers and on two child-process workers, against the single-machine baseline:
//!   the same `inc` through `tokio::task::spawn_blocking` under `futures::StreamExt::buffered(64)`;
//! - round-trip latency (p50, p99) of one item at a time (buffered(1)), against an 8-byte echo
//!   over one raw quinn stream (same TLS, same transport settings) in the same process;
//! - the in-process throughput and the latency again with `inc` declared
//!   `#[rivulet::remote(inline)]` (run on the worker's runtime thread, not handed to a slot);
//! - 1 KiB and 64 KiB values through scatter → map(identity) → buffered(64) → gather, in MB/s,
//!   against the same bytes echoed over one raw quinn stream;
//! - the seed's example: 10 tasks of 1 s over 8 slots (2 workers × 4);
//! - start-up time of `Client::local(2)`.
//!
//! `-- --only NAME` runs one part (`startup`, `throughput`, `latency`, `values`, `seed`, or
//! `in-process`: the in-process workers' throughput alone), for a profiler.

use std::time::{Duration, Instant};

use std::net::SocketAddr;

use futures::StreamExt as _;
use rivulet::Client;
use rivulet::prelude::*;
use rivulet::remote::transport::{
    Identity, SERVER_NAME, TransportSettings, Trust, client_config, server_config,
};

#[rivulet::remote]
fn inc(x: i64) -> i64 {
    x + 1
}

/// The same, declared never to block: workers run it on their runtime thread.
#[rivulet::remote(inline)]
fn inc_inline(x: i64) -> i64 {
    x + 1
}

/// A trivial function of `i64` for the throughput and latency runs.
trait Trivial: rivulet::RemoteFn<Input = i64, Output = i64> + Copy {}
impl<F: rivulet::RemoteFn<Input = i64, Output = i64> + Copy> Trivial for F {}

#[rivulet::remote]
fn same_bytes(x: bytes::Bytes) -> bytes::Bytes {
    x
}

#[rivulet::remote]
fn sleepy(x: i64) -> i64 {
    std::thread::sleep(Duration::from_secs(1));
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
async fn remote_throughput(client: &Client, f: impl Trivial) -> f64 {
    let start = Instant::now();
    let gathered = futures::stream::iter(0..ITEMS)
        .scatter(client)
        .map(f)
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
async fn latencies(client: &Client, f: impl Trivial) -> Vec<Duration> {
    // A queue of one at the source: `emit` returns once the item is queued, so it and the pull
    // of the result can be awaited together.
    let source = Source::with_capacity(1);
    let mut gathered = source.stream().scatter(client).map(f).buffered(1).gather();
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

/// A raw quinn echo server on its own thread and runtime (as an in-process worker is): every
/// stream it accepts gets back what it sends.
fn raw_echo_server() -> Result<(SocketAddr, Trust), Box<dyn std::error::Error>> {
    let identity = Identity::self_signed(vec![SERVER_NAME.to_owned()])?;
    let trust = identity.trust_pinned();
    let config = server_config(&identity, None, &TransportSettings::default())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let endpoint = {
        let _guard = runtime.enter();
        quinn::Endpoint::server(config, "127.0.0.1:0".parse()?)?
    };
    let addr = endpoint.local_addr()?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            while let Some(incoming) = endpoint.accept().await {
                tokio::spawn(async move {
                    let Ok(connection) = incoming.await else {
                        return;
                    };
                    while let Ok((mut send, mut recv)) = connection.accept_bi().await {
                        tokio::spawn(async move {
                            while let Ok(Some(chunk)) = recv.read_chunk(1 << 20, true).await {
                                if send.write_all(&chunk.bytes).await.is_err() {
                                    return;
                                }
                            }
                            let _ = send.finish();
                            let _ = send.stopped().await;
                        });
                    }
                });
            }
        });
    });
    Ok((addr, trust))
}

async fn raw_connection(
    addr: SocketAddr,
    trust: &Trust,
) -> Result<(quinn::Endpoint, quinn::Connection), Box<dyn std::error::Error>> {
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    endpoint.set_default_client_config(client_config(trust, None, &TransportSettings::default())?);
    let connection = endpoint.connect(addr, SERVER_NAME)?.await?;
    Ok((endpoint, connection))
}

/// Round trips of 8 bytes, one at a time, over one raw quinn stream.
async fn raw_echo_latencies(
    addr: SocketAddr,
    trust: &Trust,
) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let (_endpoint, connection) = raw_connection(addr, trust).await?;
    let (mut send, mut recv) = connection.open_bi().await?;
    let mut samples = Vec::with_capacity(LATENCY_ITEMS);
    let mut back = [0_u8; 8];
    for x in 0..LATENCY_ITEMS as u64 {
        let start = Instant::now();
        send.write_all(&x.to_le_bytes()).await?;
        recv.read_exact(&mut back).await?;
        samples.push(start.elapsed());
    }
    samples.sort();
    Ok(samples)
}

/// MB/s of `count` messages of `size` bytes sent over one raw quinn stream while their echo is
/// read back.
async fn raw_stream_throughput(
    addr: SocketAddr,
    trust: &Trust,
    size: usize,
    count: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let (_endpoint, connection) = raw_connection(addr, trust).await?;
    let (mut send, mut recv) = connection.open_bi().await?;
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        let message = vec![7_u8; size];
        for _ in 0..count {
            send.write_all(&message).await?;
        }
        send.finish()?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(send)
    });
    let mut received = 0;
    while let Some(chunk) = recv.read_chunk(1 << 20, true).await? {
        received += chunk.bytes.len();
    }
    let _send = writer.await?.map_err(|e| e.to_string())?;
    assert_eq!(received, size * count);
    Ok((size * count) as f64 / start.elapsed().as_secs_f64() / 1e6)
}

/// MB/s of values of `size` bytes through scatter → map(identity) → buffered(64) → gather.
async fn remote_value_throughput(client: &Client, size: usize, count: usize) -> f64 {
    let value = bytes::Bytes::from(vec![7_u8; size]);
    let start = Instant::now();
    let gathered = futures::stream::iter(0..count)
        .map(move |_| value.clone())
        .scatter(client)
        .map(same_bytes)
        .buffered(64)
        .gather()
        .fold(0_usize, |bytes, result| async move {
            bytes
                + result
                    .map(|value| value.len())
                    .unwrap_or_else(|error| panic!("{error}"))
        })
        .await;
    assert_eq!(gathered, size * count);
    gathered as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// The seed's example: 10 items of a 1-second function over 8 slots, in seconds.
async fn seed_example(client: &Client) -> f64 {
    let start = Instant::now();
    let done = futures::stream::iter(0..10_i64)
        .scatter(client)
        .map(sleepy)
        .buffered(8)
        .gather()
        .fold(0, |count, result| async move {
            assert!(result.is_ok(), "{result:?}");
            count + 1
        })
        .await;
    assert_eq!(done, 10);
    start.elapsed().as_secs_f64()
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

fn runs(only: Option<&str>, part: &str) -> bool {
    only.is_none_or(|only| only == part)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    rivulet::worker::run_if_worker();
    let args: Vec<String> = std::env::args().collect();
    let only = args
        .iter()
        .position(|arg| arg == "--only")
        .and_then(|at| args.get(at + 1))
        .map(String::as_str);
    let dashboard = args.iter().any(|arg| arg == "--dashboard");
    let watched = if dashboard {
        ", dashboard on and polled"
    } else {
        ""
    };
    println!("rivulet remote figures (medians of {RUNS} runs{watched})");

    if runs(only, "startup") {
        let mut startups = Vec::new();
        for _ in 0..RUNS {
            let start = Instant::now();
            let client = Client::local(2).await?;
            startups.push(start.elapsed().as_secs_f64() * 1e3);
            client.shutdown().await;
        }
        println!("  start-up of Client::local(2): {:.1} ms", median(startups));
    }

    let with_dashboard = |builder: rivulet::remote::ClientBuilder| {
        if dashboard {
            builder.dashboard("127.0.0.1:0")
        } else {
            builder
        }
    };
    let local = with_dashboard(Client::builder().workers(2)).build().await?;
    let watchers: Vec<_> = local
        .dashboard_addr()
        .into_iter()
        .map(|addr| tokio::spawn(watch(addr)))
        .collect();

    // `--only in-process`: only the in-process workers' throughput, for a profiler.
    if only == Some("in-process") {
        let mut in_process = Vec::new();
        for _ in 0..RUNS {
            in_process.push(remote_throughput(&local, inc).await);
        }
        println!("  2 in-process workers: {:.0} items/s", median(in_process));
    }

    if runs(only, "throughput") {
        let processes = with_dashboard(Client::builder().workers(2).processes(true))
            .build()
            .await?;
        let watcher = processes
            .dashboard_addr()
            .map(|addr| tokio::spawn(watch(addr)));
        let mut in_process = Vec::new();
        let mut child = Vec::new();
        let mut inline = Vec::new();
        let mut baseline = Vec::new();
        for _ in 0..RUNS {
            in_process.push(remote_throughput(&local, inc).await);
            child.push(remote_throughput(&processes, inc).await);
            inline.push(remote_throughput(&local, inc_inline).await);
            baseline.push(baseline_throughput().await);
        }
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        processes.shutdown().await;
        let (in_process, child, baseline) = (median(in_process), median(child), median(baseline));
        let inline = median(inline);
        println!("  throughput ({ITEMS} items of inc, buffered(64)):");
        println!(
            "    2 in-process workers:    {in_process:>8.0} items/s  ({:.3} of the baseline)",
            in_process / baseline
        );
        println!(
            "    2 child-process workers: {child:>8.0} items/s  ({:.3} of the baseline)",
            child / baseline
        );
        println!(
            "    2 in-process workers, #[remote(inline)]: {inline:.0} items/s  ({:.3} of the baseline)",
            inline / baseline
        );
        println!("    baseline, spawn_blocking under buffered(64): {baseline:.0} items/s");
    }

    if runs(only, "latency") || runs(only, "values") {
        let (echo_addr, echo_trust) = raw_echo_server()?;
        if runs(only, "latency") {
            let mut remote = Vec::new();
            let mut inline = Vec::new();
            let mut raw = Vec::new();
            for _ in 0..RUNS {
                remote.push(latencies(&local, inc).await);
                inline.push(latencies(&local, inc_inline).await);
                raw.push(raw_echo_latencies(echo_addr, &echo_trust).await?);
            }
            let at = |samples: &[Vec<Duration>], p: f64| {
                median(
                    samples
                        .iter()
                        .map(|run| percentile(run, p).as_secs_f64() * 1e6)
                        .collect(),
                )
            };
            let (p50, p99) = (at(&remote, 0.5), at(&remote, 0.99));
            let (raw50, raw99) = (at(&raw, 0.5), at(&raw, 0.99));
            println!("  round trip, one item at a time ({LATENCY_ITEMS} items per run):");
            println!(
                "    emit → result, buffered(1): p50 {p50:.1} µs, p99 {p99:.1} µs  ({:.2}× / {:.2}× the echo)",
                p50 / raw50,
                p99 / raw99
            );
            let (in50, in99) = (at(&inline, 0.5), at(&inline, 0.99));
            println!(
                "    the same, #[remote(inline)]: p50 {in50:.1} µs, p99 {in99:.1} µs  ({:.2}× / {:.2}× the echo)",
                in50 / raw50,
                in99 / raw99
            );
            println!("    raw quinn 8-byte echo:      p50 {raw50:.1} µs, p99 {raw99:.1} µs");
        }
        if runs(only, "values") {
            println!("  values through scatter → map(identity) → buffered(64) → gather:");
            for (size, count) in [(1 << 10, 20_000), (64 << 10, 2_000)] {
                let mut remote = Vec::new();
                let mut raw = Vec::new();
                for _ in 0..RUNS {
                    remote.push(remote_value_throughput(&local, size, count).await);
                    raw.push(raw_stream_throughput(echo_addr, &echo_trust, size, count).await?);
                }
                let (remote, raw) = (median(remote), median(raw));
                println!(
                    "    {:>2} KiB: {remote:>7.1} MB/s  (raw quinn echo {raw:.1} MB/s; {:.2}×)",
                    size >> 10,
                    remote / raw
                );
            }
        }
    }

    if runs(only, "seed") {
        let eight = Client::builder().workers(2).slots(4).build().await?;
        let mut times = Vec::new();
        for _ in 0..3 {
            times.push(seed_example(&eight).await);
        }
        eight.shutdown().await;
        println!(
            "  the seed's example, 10 × 1 s over 8 slots: {:.3} s (median of 3)",
            median(times)
        );
    }

    for watcher in &watchers {
        watcher.abort();
    }
    local.shutdown().await;
    Ok(())
}
