//! Reruns the flood and greedy-client cases of issue 15 against one worker process, while a
//! legitimate client sends it about 100 items a second, and prints, per case, the worker's
//! resident memory (before, peak, after) and the legitimate client's round trips (p50, p99).
//!
//! ```text
//! cargo run --release --example flood
//! cargo run --release --example flood -- trickler tasks   # only the cases whose name has these
//! ```
//!
//! Each case lasts a few seconds, so the whole run takes well under a minute. Everything is on
//! 127.0.0.1; the worker is a child process of this binary (see `rivulet::worker::run_if_worker`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rivulet::Client;
use rivulet::prelude::*;
use rivulet::remote::proto::{
    ClientMessage, FailureKind, Hello, HelloReply, Key, PROTOCOL_VERSION, Reply, Request, Response,
    Task, TaskKind, encode,
};
use rivulet::remote::transport::{
    self, FrameReader, TransportSettings, Trust, read_message, write_message,
};
use rivulet::remote::{ClientAuth, ConnectConfig};
use rivulet::worker::WorkerProcess;

/// The legitimate client's work: one round trip per item.
#[rivulet::remote]
fn echo(x: u64) -> u64 {
    x
}

const SECRET: &[u8] = b"flood example: the secret of the legitimate clients";

/// How long each attack lasts.
const ATTACK: Duration = Duration::from_secs(4);

/// How long the worker is left alone after each attack: unanswered handshakes take seconds
/// to time out.
const SETTLE: Duration = Duration::from_secs(4);

/// The largest frame the raw clients here write or read.
const MAX: usize = 64 << 20;

fn main() {
    // The worker process is this binary too: it stops here and serves.
    rivulet::worker::run_if_worker();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run());
}

/// One row of the table.
struct Row {
    name: &'static str,
    took: Duration,
    before: u64,
    peak: u64,
    after: u64,
    p50: Duration,
    p99: Duration,
    ok: usize,
    failed: usize,
    note: String,
}

/// The legitimate client's round trips: when each began, and how long it took and whether it
/// worked once it has ended.
type Samples = Arc<Mutex<Vec<(Instant, Option<(Duration, bool)>)>>>;

async fn run() {
    let worker = WorkerProcess::spawn(2, SECRET, &TransportSettings::default(), &[])
        .await
        .expect("the worker process starts");
    let pid = worker.pid().expect("the worker runs");
    let addr = worker.local_addr();
    let trust = Trust::Pinned(vec![worker.certificate().clone()]);
    let samples: Samples = Arc::default();
    // The legitimate client has a runtime (and thread) of its own, so that the attackers'
    // busy loops in this process do not delay its timer: what it measures is the worker.
    let legit = Legit::start(addr, trust.clone(), Arc::clone(&samples));
    println!("worker pid {pid} on {addr}; legitimate client at ~100 items/s\n");

    let mut rows = Vec::new();
    rows.extend(
        case("no attack", pid, &samples, || async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            String::new()
        })
        .await,
    );
    rows.extend(
        case("2,000 handshake-less conn/s", pid, &samples, || {
            handshake_flood(addr, trust.clone())
        })
        .await,
    );
    rows.extend(
        case("500 conns: TLS, then silence", pid, &samples, || {
            silent_connections(addr, trust.clone())
        })
        .await,
    );
    rows.extend(
        case("60 MiB-prefix trickler x30", pid, &samples, || {
            tricklers(addr, trust.clone())
        })
        .await,
    );
    rows.extend(
        case("100,000 tasks at once", pid, &samples, || {
            task_flood(addr, trust.clone())
        })
        .await,
    );
    rows.extend(
        case("64 x 4 MiB fetches, unread", pid, &samples, || {
            unread_replies(addr, trust.clone())
        })
        .await,
    );
    let connected = legit.stop();

    println!(
        "{:<30} {:>6} {:>9} {:>9} {:>9} {:>10} {:>10} {:>6} {:>6}  note",
        "case", "for", "RSS", "peak", "after", "legit p50", "legit p99", "ok", "failed"
    );
    for row in &rows {
        println!(
            "{:<30} {:>6} {:>9} {:>9} {:>9} {:>10} {:>10} {:>6} {:>6}  {}",
            row.name,
            format!("{:.1} s", row.took.as_secs_f64()),
            mib(row.before),
            mib(row.peak),
            mib(row.after),
            millis(row.p50),
            millis(row.p99),
            row.ok,
            row.failed,
            row.note
        );
    }
    println!("\nthe legitimate client still has {connected} worker(s) connected");
    worker.shutdown().await;
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// The legitimate client, on a thread and runtime of its own.
struct Legit {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: std::thread::JoinHandle<usize>,
}

impl Legit {
    fn start(addr: SocketAddr, trust: Trust, samples: Samples) -> Legit {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, is_ready) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime");
            runtime.block_on(async move {
                let client = Client::connect(
                    [addr],
                    ConnectConfig::new(trust, ClientAuth::Secret(SECRET.to_vec())),
                )
                .await
                .expect("the legitimate client connects");
                let _ = ready.send(());
                tokio::select! {
                    () = legitimate_load(client.clone(), samples) => {}
                    _ = stopped => {}
                }
                let connected = client.workers().len();
                client.shutdown().await;
                connected
            })
        });
        let _ = is_ready.recv();
        Legit {
            stop: Some(stop),
            thread,
        }
    }

    /// Stops the load; how many workers the client still had.
    fn stop(mut self) -> usize {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.thread.join().unwrap_or(0)
    }
}

/// About 100 items a second, each scattered, mapped and gathered on its own.
async fn legitimate_load(client: Client, samples: Samples) {
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    for x in 0u64.. {
        tick.tick().await;
        let (client, samples) = (client.clone(), Arc::clone(&samples));
        let start = Instant::now();
        let index = {
            let mut samples = samples.lock().unwrap_or_else(|e| e.into_inner());
            samples.push((start, None));
            samples.len() - 1
        };
        tokio::spawn(async move {
            let out = futures::stream::iter([x])
                .scatter(&client)
                .map(echo)
                .gather()
                .next()
                .await;
            let ok = matches!(out, Some(Ok(y)) if y == x);
            let mut samples = samples.lock().unwrap_or_else(|e| e.into_inner());
            samples[index].1 = Some((start.elapsed(), ok));
        });
    }
}

/// Runs `attack`, sampling the worker's memory, and sums up the legitimate client's round
/// trips meanwhile.
async fn case<F, Fut>(name: &'static str, pid: u32, samples: &Samples, attack: F) -> Option<Row>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = String> + Send + 'static,
{
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    if !wanted.is_empty() && !wanted.iter().any(|w| name.contains(w.as_str())) {
        return None;
    }
    let before = rss(pid);
    let start = Instant::now();
    let attack = tokio::spawn(attack());
    let mut peak = before;
    while !attack.is_finished() {
        peak = peak.max(rss(pid));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let note = attack
        .await
        .unwrap_or_else(|e| format!("attack failed: {e}"));
    let end = Instant::now();
    // Let the worker settle (and the attack's connections go) before the next case.
    tokio::time::sleep(SETTLE).await;
    let after = rss(pid);
    peak = peak.max(after);
    // The round trips begun during the attack; those not ended by now count as failed.
    let (mut times, mut ok, mut failed) = (Vec::new(), 0, 0);
    for (at, outcome) in samples
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .copied()
    {
        if at < start || at > end {
            continue;
        }
        match outcome {
            Some((took, true)) => {
                times.push(took);
                ok += 1;
            }
            Some((took, false)) => {
                times.push(took);
                failed += 1;
            }
            None => failed += 1,
        }
    }
    times.sort_unstable();
    let pick = |q: f64| {
        times
            .get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    eprintln!("done: {name}");
    Some(Row {
        name,
        took: end - start,
        before,
        peak,
        after,
        p50: pick(0.5),
        p99: pick(0.99),
        ok,
        failed,
        note,
    })
}

/// The resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

fn endpoint(trust: &Trust) -> quinn::Endpoint {
    let config = transport::client_config(trust, None, &TransportSettings::default())
        .expect("client config");
    let mut endpoint =
        quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).expect("client endpoint");
    endpoint.set_default_client_config(config);
    endpoint
}

/// 2,000 connection attempts a second whose handshakes never finish: they go through a relay
/// that passes the attacker's packets to the worker and drops every answer (as spoofed source
/// addresses would), so the worker hears Initial packets and never a reply to its own.
async fn handshake_flood(worker: SocketAddr, trust: Trust) -> String {
    let relay = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("relay socket");
    let relay_addr = relay.local_addr().expect("relay address");
    let stop = Arc::new(AtomicBool::new(false));
    let relayed = Arc::new(AtomicUsize::new(0));
    let relaying = {
        let (stop, relayed) = (Arc::clone(&stop), Arc::clone(&relayed));
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while !stop.load(Ordering::Relaxed) {
                let Ok(Ok((n, from))) =
                    tokio::time::timeout(Duration::from_millis(100), relay.recv_from(&mut buf))
                        .await
                else {
                    continue;
                };
                if from != worker {
                    relayed.fetch_add(1, Ordering::Relaxed);
                    let _ = relay.send_to(&buf[..n], worker).await;
                }
            }
        })
    };
    let endpoint = endpoint(&trust);
    let newcomer = {
        let trust = trust.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut config = ConnectConfig::new(trust, ClientAuth::Secret(SECRET.to_vec()));
            config.connect_timeout = Duration::from_secs(2);
            match Client::connect([worker], config).await {
                Ok(client) => {
                    client.close();
                    "a new client got in".to_owned()
                }
                Err(error) => format!("a new client was refused ({error})"),
            }
        })
    };
    let started = Instant::now();
    let mut attempts = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    while started.elapsed() < ATTACK {
        tick.tick().await;
        // 2,000 a second: as many as should have been made by now.
        let due = (started.elapsed().as_secs_f64() * 2000.0) as u64;
        while attempts < due {
            attempts += 1;
            if let Ok(connecting) = endpoint.connect(relay_addr, "localhost") {
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(2), connecting).await;
                });
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let _ = relaying.await;
    endpoint.close(0u32.into(), b"done");
    let newcomer = newcomer.await.unwrap_or_default();
    format!(
        "{attempts} attempts, {} packets relayed; {newcomer}",
        relayed.load(Ordering::Relaxed)
    )
}

/// 500 connections that finish TLS and then send nothing, held for the attack.
async fn silent_connections(worker: SocketAddr, trust: Trust) -> String {
    let endpoint = endpoint(&trust);
    let attempts = (0..500).map(|_| {
        let endpoint = endpoint.clone();
        async move {
            let connecting = endpoint.connect(worker, "localhost").ok()?;
            tokio::time::timeout(Duration::from_secs(2), connecting)
                .await
                .ok()?
                .ok()
        }
    });
    let connections: Vec<_> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .flatten()
        .collect();
    let accepted = connections.len();
    tokio::time::sleep(ATTACK.saturating_sub(Duration::from_secs(2))).await;
    let alive = connections
        .iter()
        .filter(|c| c.close_reason().is_none())
        .count();
    drop(connections);
    endpoint.close(0u32.into(), b"done");
    format!("{accepted} of 500 accepted, {alive} still open at the end")
}

/// A connection that proved the secret and was welcomed.
async fn welcomed(
    endpoint: &quinn::Endpoint,
    worker: SocketAddr,
) -> Option<(quinn::Connection, quinn::SendStream, quinn::RecvStream)> {
    let connection = endpoint.connect(worker, "localhost").ok()?.await.ok()?;
    let (mut send, mut recv) = connection.open_bi().await.ok()?;
    let hello = Hello {
        version: PROTOCOL_VERSION,
        proof: Some(transport::proof(&connection, SECRET).ok()?),
        functions: rivulet::remote::registry::functions(),
    };
    write_message(&mut send, &hello, MAX).await.ok()?;
    match read_message::<HelloReply>(&mut recv, &mut FrameReader::new(MAX)).await {
        Ok(Some(HelloReply::Welcome { .. })) => Some((connection, send, recv)),
        _ => None,
    }
}

/// 30 authenticated connections, each announcing a 60 MiB frame and then sending one byte
/// every 100 ms.
async fn tricklers(worker: SocketAddr, trust: Trust) -> String {
    let endpoint = endpoint(&trust);
    let mut streams = Vec::new();
    for _ in 0..30 {
        if let Some(welcomed) = welcomed(&endpoint, worker).await {
            streams.push(welcomed);
        }
    }
    let connected = streams.len();
    let trickles: Vec<_> = streams
        .into_iter()
        .map(|(connection, mut send, _recv)| {
            tokio::spawn(async move {
                let started = Instant::now();
                if send.write_all(&(60u32 << 20).to_be_bytes()).await.is_ok() {
                    while started.elapsed() < ATTACK {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        if send.write_all(&[0]).await.is_err() {
                            break;
                        }
                    }
                }
                // The stream is handed back unfinished: dropping it would end the frame.
                (connection, send)
            })
        })
        .collect();
    let mut closed = Vec::new();
    let mut streams = Vec::new();
    for trickle in trickles {
        if let Ok((connection, send)) = trickle.await {
            if let Some(reason) = connection.close_reason() {
                closed.push(reason.to_string());
            }
            streams.push((connection, send));
        }
    }
    for (connection, _send) in &streams {
        connection.close(0u32.into(), b"done");
    }
    let closed = if closed.is_empty() {
        "none".to_owned()
    } else {
        format!("{}: {}", closed.len(), closed[0])
    };
    endpoint.close(0u32.into(), b"done");
    format!("{connected} connected; closed by the worker within the attack: {closed}")
}

fn echo_name() -> String {
    rivulet::remote::registry::functions()
        .into_iter()
        .find(|f| f.name.ends_with("echo"))
        .map(|f| f.name)
        .expect("echo is registered")
}

/// One authenticated client submits 100,000 tasks at once and reads the replies.
async fn task_flood(worker: SocketAddr, trust: Trust) -> String {
    let endpoint = endpoint(&trust);
    let Some((connection, mut send, mut recv)) = welcomed(&endpoint, worker).await else {
        return "not welcomed".to_owned();
    };
    let function = echo_name();
    let mut buf = BytesMut::new();
    let input = Bytes::from(postcard::to_allocvec(&1u64).unwrap_or_default());
    let scatter = ClientMessage::Scatter {
        key: Key(0),
        value: input,
    };
    encode(&scatter, MAX, &mut buf).expect("encodes");
    for id in 1..=100_000u64 {
        let submit = ClientMessage::Request {
            id,
            request: Request::Submit(Task {
                kind: TaskKind::Map,
                function: function.clone(),
                params: Bytes::new(),
                inputs: vec![Key(0)],
                outputs: vec![Key(id)],
                reply_with_value: false,
            }),
        };
        encode(&submit, MAX, &mut buf).expect("encodes");
    }
    let writing = tokio::spawn(async move {
        let _ = send.write_all(&buf).await;
        send
    });
    let (mut done, mut overloaded, mut other) = (0, 0, 0);
    let mut reader = FrameReader::new(MAX);
    let started = Instant::now();
    while done + overloaded + other < 100_000 {
        let left = ATTACK.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, read_message::<Reply>(&mut recv, &mut reader)).await {
            Ok(Ok(Some(reply))) => match reply.response {
                Response::Done { .. } => done += 1,
                Response::Failed(f) if f.kind == FailureKind::Overloaded => overloaded += 1,
                _ => other += 1,
            },
            _ => break,
        }
    }
    writing.abort();
    connection.close(0u32.into(), b"done");
    endpoint.close(0u32.into(), b"done");
    format!("{done} done, {overloaded} refused Overloaded, {other} other replies")
}

/// One authenticated client fetches a 4 MiB value 64 times and reads none of the replies.
async fn unread_replies(worker: SocketAddr, trust: Trust) -> String {
    let endpoint = endpoint(&trust);
    let Some((connection, mut send, _recv)) = welcomed(&endpoint, worker).await else {
        return "not welcomed".to_owned();
    };
    let mut buf = BytesMut::new();
    let value = ClientMessage::Scatter {
        key: Key(0),
        value: Bytes::from(vec![7u8; 4 << 20]),
    };
    encode(&value, MAX, &mut buf).expect("encodes");
    for id in 1..=64u64 {
        let fetch = ClientMessage::Request {
            id,
            request: Request::Fetch { key: Key(0) },
        };
        encode(&fetch, MAX, &mut buf).expect("encodes");
    }
    let _ = send.write_all(&buf).await;
    // More requests, 1 MiB at a time: once the worker stops reading, they stop being written.
    let padding = ClientMessage::Release(vec![Key(u64::MAX); 100_000]);
    let mut pad = BytesMut::new();
    encode(&padding, MAX, &mut pad).expect("encodes");
    let started = Instant::now();
    let mut written = 0usize;
    while started.elapsed() < ATTACK {
        let left = ATTACK.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, send.write_all(&pad)).await {
            Ok(Ok(())) => written += pad.len(),
            _ => break,
        }
    }
    connection.close(0u32.into(), b"done");
    endpoint.close(0u32.into(), b"done");
    format!(
        "{:.1} MB more written before the worker stopped reading",
        written as f64 / 1e6
    )
}
