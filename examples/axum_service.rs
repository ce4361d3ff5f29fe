//! An axum service whose handler hashes request bodies on rivulet workers, one call per request
//! (`Client::submit`), next to the same handler on `tokio::task::spawn_blocking`.
//!
//! ```text
//! cargo run --release --example axum_service            # serve on 127.0.0.1:3000 until Ctrl-C
//! curl --data-binary @README.md http://127.0.0.1:3000/hash
//! cargo run --release --example axum_service -- --bench # both routes under load, same run
//! ```
//!
//! `POST /hash` runs the hash on a worker's task slot and answers with it in hex; `POST
//! /hash-local` runs it with `spawn_blocking` in this process, the usual way to keep CPU work off
//! a tokio service's runtime. `--bench` serves on a free port and has 16 keep-alive clients post
//! 16 KiB bodies to each route in turn, printing requests per second and latency percentiles
//! (medians of 5 rounds), and the ratio of the two.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use rivulet::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A deliberately slow hash (64 passes of FNV-1a over the body): about a millisecond of CPU for
/// 16 KiB, the kind of work a service moves off its runtime.
#[rivulet::remote]
fn hash_body(body: Vec<u8>) -> u64 {
    slow_hash(&body)
}

fn slow_hash(body: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for pass in 0..64_u64 {
        hash ^= pass;
        for byte in body {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

async fn on_workers(State(client): State<Client>, body: Bytes) -> Result<String, StatusCode> {
    match client.submit(hash_body, body.to_vec()).fetch().await {
        Ok(hash) => Ok(format!("{hash:016x}\n")),
        Err(error) => {
            eprintln!("hash failed: {error}");
            Err(StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

async fn on_blocking_pool(body: Bytes) -> Result<String, StatusCode> {
    match tokio::task::spawn_blocking(move || slow_hash(&body)).await {
        Ok(hash) => Ok(format!("{hash:016x}\n")),
        Err(_) => Err(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

fn app(client: Client) -> Router {
    Router::new()
        .route("/hash", post(on_workers))
        .route("/hash-local", post(on_blocking_pool))
        .with_state(client)
}

const CLIENTS: usize = 16;
const REQUESTS_PER_CLIENT: usize = 40;
const BODY: usize = 16 << 10;
const ROUNDS: usize = 5;

/// One keep-alive HTTP/1.1 connection posting `count` bodies to `path`; the latency of each.
async fn post_many(addr: SocketAddr, path: &str, count: usize) -> std::io::Result<Vec<Duration>> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let body = vec![b'x'; BODY];
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {BODY}\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let mut samples = Vec::with_capacity(count);
    let mut buffer = Vec::with_capacity(1024);
    for _ in 0..count {
        let start = Instant::now();
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        read_response(&mut stream, &mut buffer).await?;
        samples.push(start.elapsed());
    }
    Ok(samples)
}

/// Reads one response (headers and a `Content-Length` body) and checks it is a 200.
async fn read_response(
    stream: &mut tokio::net::TcpStream,
    buffer: &mut Vec<u8>,
) -> std::io::Result<()> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    buffer.clear();
    let mut chunk = [0_u8; 1024];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(bad("the server closed the connection"));
        }
        buffer.extend_from_slice(&chunk[..read]);
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
        if !head.starts_with("http/1.1 200") {
            return Err(bad(&format!("not a 200: {head}")));
        }
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .ok_or_else(|| bad("no content-length"))?;
        while buffer.len() < end + 4 + length {
            let read = stream.read(&mut chunk).await?;
            if read == 0 {
                return Err(bad("the body was cut short"));
            }
            buffer.extend_from_slice(&chunk[..read]);
        }
        return Ok(());
    }
}

/// Requests per second and p50/p99 of one round of `CLIENTS` connections on `path`.
async fn round(addr: SocketAddr, path: &'static str) -> std::io::Result<(f64, Duration, Duration)> {
    let start = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(post_many(addr, path, REQUESTS_PER_CLIENT)))
        .collect();
    let mut samples = Vec::new();
    for client in clients {
        samples.extend(client.await.map_err(std::io::Error::other)??);
    }
    let per_second = samples.len() as f64 / start.elapsed().as_secs_f64();
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    Ok((per_second, at(0.5), at(0.99)))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn bench(addr: SocketAddr) -> std::io::Result<()> {
    println!(
        "{CLIENTS} keep-alive clients × {REQUESTS_PER_CLIENT} POSTs of {} KiB, medians of {ROUNDS} rounds",
        BODY >> 10
    );
    let (mut remote, mut local) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        remote.push(round(addr, "/hash").await?);
        local.push(round(addr, "/hash-local").await?);
    }
    let summary = |rounds: &[(f64, Duration, Duration)]| {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        (
            median(rounds.iter().map(|r| r.0).collect()),
            median(rounds.iter().map(|r| ms(r.1)).collect()),
            median(rounds.iter().map(|r| ms(r.2)).collect()),
        )
    };
    let (remote, local) = (summary(&remote), summary(&local));
    println!(
        "  /hash on workers (Client::submit): {:>7.0} requests/s, p50 {:.2} ms, p99 {:.2} ms",
        remote.0, remote.1, remote.2
    );
    println!(
        "  /hash-local (spawn_blocking):      {:>7.0} requests/s, p50 {:.2} ms, p99 {:.2} ms",
        local.0, local.1, local.2
    );
    println!("  workers / spawn_blocking: {:.3}", remote.0 / local.0);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    rivulet::worker::run_if_worker();
    let benching = std::env::args().any(|arg| arg == "--bench");
    // As many task slots as cores, as spawn_blocking's pool effectively has for CPU work.
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let client = Client::builder().workers(cores).slots(1).build().await?;
    let listen: SocketAddr = if benching {
        "127.0.0.1:0".parse()?
    } else {
        "127.0.0.1:3000".parse()?
    };
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app(client)).await });
    if benching {
        bench(addr).await?;
        server.abort();
        return Ok(());
    }
    println!(
        "serving on http://{addr}: POST a body to /hash (workers) or /hash-local; Ctrl-C stops"
    );
    tokio::select! {
        served = server => served??,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
