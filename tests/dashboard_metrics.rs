//! The dashboard and `/metrics` over plain HTTP, while real pipelines run on real workers
//! (real QUIC, real time); the worker's own `/metrics`; the tracing spans.
#![cfg(feature = "remote")]

mod support;

use support::within;
#[path = "dashboard/http.rs"]
mod http;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use rivulet::Client;
use rivulet::prelude::*;
use rivulet::remote::obs::{self, WorkerStats};
use serde_json::Value;

use http::{get, request};

#[rivulet::remote]
fn checked_inc(x: i64) -> Result<i64, String> {
    if x % 25 == 7 {
        Err(format!("no sevens here: {x}"))
    } else {
        Ok(x + 1)
    }
}

/// Runs `0..n` through `checked_inc` on the client's workers; returns how many failed.
async fn run(client: &Client, n: i64) -> usize {
    let out: Vec<_> = within(
        futures::stream::iter(0..n)
            .scatter(client)
            .map(checked_inc)
            .buffered(16)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out.len(), n as usize);
    out.iter().filter(|result| result.is_err()).count()
}

/// The sum of a metric's samples whose labels contain every one of `labels`.
fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            metric == name && labels.iter().all(|label| rest.contains(label))
        })
        .map(|(_, value)| value.parse::<f64>().expect("a number"))
        .sum()
}

async fn state(addr: SocketAddr) -> Value {
    let answer = get(addr, "/api/state").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    serde_json::from_str(&answer.body).expect("the state is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_state_follow_a_pipeline() {
    let client = Client::builder()
        .workers(2)
        .slots(2)
        .dashboard("127.0.0.1:0")
        .build()
        .await
        .expect("client with a dashboard");
    let addr = client
        .dashboard_addr()
        .expect("the builder's dashboard runs");
    assert!(addr.ip().is_loopback() && addr.port() != 0);

    let failed = run(&client, 100).await;
    assert_eq!(failed, 4); // 7, 32, 57, 82
    let text = get(addr, "/metrics").await;
    assert_eq!(text.status, 200);
    assert!(
        text.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4"))
    );
    let text = text.body;
    let function = "function=\"dashboard_metrics::checked_inc\"";
    assert_eq!(
        metric(&text, "rivulet_tasks_submitted_total", &[function]),
        100.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "rivulet_tasks_finished_total", &[function]),
        96.0
    );
    assert_eq!(
        metric(&text, "rivulet_tasks_failed_total", &[function]),
        4.0
    );
    for worker in ["worker=\"0\"", "worker=\"1\""] {
        assert_eq!(metric(&text, "rivulet_worker_up", &[worker]), 1.0, "{text}");
        assert_eq!(metric(&text, "rivulet_worker_slots", &[worker]), 2.0);
        assert!(
            metric(&text, "rivulet_tasks_submitted_total", &[worker, function]) > 0.0,
            "both workers work"
        );
        assert!(metric(&text, "rivulet_sent_bytes_total", &[worker]) > 0.0);
    }
    assert_eq!(metric(&text, "rivulet_tasks_in_flight", &[]), 0.0);
    assert_eq!(metric(&text, "rivulet_values_gathered_total", &[]), 96.0);
    assert_eq!(metric(&text, "rivulet_values_scattered_total", &[]), 100.0);
    assert_eq!(
        metric(
            &text,
            "rivulet_request_duration_seconds_count",
            &["kind=\"submit\""]
        ),
        100.0
    );
    assert_eq!(
        metric(
            &text,
            "rivulet_request_duration_seconds_bucket",
            &["kind=\"submit\"", "le=\"+Inf\""]
        ),
        100.0
    );
    // Every value gathered is one fetch, though these small ones came with their tasks' replies
    // and needed no fetch request of their own.
    assert_eq!(
        metric(
            &text,
            "rivulet_request_duration_seconds_count",
            &["kind=\"fetch\""]
        ),
        96.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "rivulet_request_duration_seconds_bucket",
            &["kind=\"fetch\"", "le=\"+Inf\""]
        ),
        96.0
    );
    assert!(text.contains("# TYPE rivulet_request_duration_seconds histogram"));

    let before = state(addr).await;
    let workers = before["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 2);
    for (index, worker) in workers.iter().enumerate() {
        assert_eq!(worker["index"], index);
        assert_eq!(worker["connected"], true);
        assert_eq!(worker["slots"], 2);
        assert!(
            worker["addr"]
                .as_str()
                .is_some_and(|a| a.starts_with("127.0.0.1:"))
        );
    }
    assert_eq!(before["totals"]["finished"], 96);
    let tasks = before["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 100);
    assert_eq!(tasks.iter().filter(|t| t["outcome"] == "failed").count(), 4);
    assert!(
        tasks
            .iter()
            .all(|t| t["end_ms"].as_f64() >= t["start_ms"].as_f64())
    );
    let errors = before["errors"].as_array().expect("errors");
    assert!(
        errors.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("no sevens here: 57"))),
        "{errors:?}"
    );

    // The counters move with more work.
    let failed = run(&client, 50).await;
    let after = state(addr).await;
    assert_eq!(after["totals"]["submitted"], 150);
    assert_eq!(
        after["totals"]["finished"].as_u64(),
        Some(96 + 50 - failed as u64)
    );
    assert!(after["now_ms"].as_f64() > before["now_ms"].as_f64());
}

/// A value too large to come back with its task's reply: fetching it takes a request.
#[rivulet::remote]
fn zeros(n: usize) -> Vec<u8> {
    vec![0; n]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_that_needs_a_request_counts_once() {
    let client = Client::builder()
        .workers(1)
        .dashboard("127.0.0.1:0")
        .build()
        .await
        .expect("client with a dashboard");
    let addr = client.dashboard_addr().expect("dashboard");
    let big = client.submit(zeros, 1 << 20);
    assert_eq!(within(big.fetch()).await.map(|v| v.len()), Ok(1 << 20));
    let text = get(addr, "/metrics").await.body;
    let count = |kind: &str| {
        metric(
            &text,
            "rivulet_request_duration_seconds_count",
            &[&format!("kind=\"{kind}\"")],
        )
    };
    assert_eq!(count("fetch"), 1.0, "{text}");
    assert_eq!(count("submit"), 1.0, "{text}");
    assert!(
        metric(
            &text,
            "rivulet_request_duration_seconds_sum",
            &["kind=\"fetch\""]
        ) > 0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_held_come_and_go() {
    let client = Client::local(1).await.expect("client");
    let dashboard = client
        .serve_dashboard("127.0.0.1:0")
        .await
        .expect("dashboard on port 0");
    let addr = dashboard.local_addr();
    let handle = client.scatter(vec![7_u8; 1000]);
    handle.ready().await.expect("scattered");
    let held = state(addr).await;
    assert_eq!(held["workers"][0]["values_held"], 1);
    assert!(
        held["workers"][0]["bytes_held"]
            .as_u64()
            .is_some_and(|b| b >= 1000)
    );
    drop(handle);
    let released = state(addr).await;
    assert_eq!(released["workers"][0]["values_held"], 0);
    assert_eq!(released["workers"][0]["bytes_held"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_self_contained_and_read_only() {
    let client = Client::local(1).await.expect("client");
    let dashboard = client
        .serve_dashboard("127.0.0.1:0")
        .await
        .expect("dashboard");
    let addr = dashboard.local_addr();
    assert_eq!(dashboard.url(), format!("http://{addr}/status"));

    let page = get(addr, "/status").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let policy = page
        .header("content-security-policy")
        .expect("a content security policy");
    assert!(
        policy.contains("default-src 'none'") && policy.contains("script-src 'self'"),
        "{policy}"
    );
    assert!(page.body.contains(r#"<script src="/status.js""#));
    assert!(
        page.body
            .contains(r#"<link rel="stylesheet" href="/status.css">"#)
    );
    assert!(page.body.contains(r#"id="workers""#) && page.body.contains(r#"id="stream""#));
    for (path, kind) in [
        ("/status.js", "text/javascript"),
        ("/status.css", "text/css"),
    ] {
        let asset = get(addr, path).await;
        assert_eq!(asset.status, 200, "{path}");
        assert!(
            asset
                .header("content-type")
                .is_some_and(|t| t.starts_with(kind)),
            "{path}"
        );
        assert!(asset.body.contains("/api/state") || path.ends_with(".css"));
        assert!(!asset.body.contains("://"), "{path} names no external URL");
    }
    assert!(!page.body.contains("://"), "the page names no external URL");

    let redirect = get(addr, "/").await;
    assert_eq!(
        (redirect.status, redirect.header("location")),
        (303, Some("/status"))
    );
    assert_eq!(get(addr, "/nothing-here").await.status, 404);
    let post = request(addr, "POST", "/metrics", &[], "{}")
        .await
        .expect("answer");
    assert_eq!(
        (post.status, post.header("allow")),
        (405, Some("GET, HEAD"))
    );
    let delete = request(addr, "DELETE", "/api/state", &[], "")
        .await
        .expect("answer");
    assert_eq!(delete.status, 405);
    // Another site's name pointed at 127.0.0.1 (DNS rebinding) gets nothing.
    let rebound = request(
        addr,
        "GET",
        "/api/state",
        &[("Host", "evil.example:80")],
        "",
    )
    .await
    .expect("answer");
    assert_eq!(rebound.status, 403);
    let named = request(addr, "GET", "/api/state", &[("Host", "localhost")], "")
        .await
        .expect("answer");
    assert_eq!(named.status, 200);
    let head = request(addr, "HEAD", "/metrics", &[], "")
        .await
        .expect("answer");
    assert_eq!((head.status, head.body.as_str()), (200, ""));
}

/// Connecting fails soon after the server stops.
async fn stops_listening(addr: SocketAddr) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{addr} still accepts connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_stops_with_its_handle_or_its_client() {
    let client = Client::local(1).await.expect("client");
    let dashboard = client
        .serve_dashboard("127.0.0.1:0")
        .await
        .expect("dashboard");
    let addr = dashboard.local_addr();
    assert_eq!(get(addr, "/metrics").await.status, 200);
    drop(dashboard);
    stops_listening(addr).await;

    let second = client
        .serve_dashboard("127.0.0.1:0")
        .await
        .expect("dashboard");
    let second_addr = second.local_addr();
    let built = Client::builder()
        .workers(1)
        .dashboard("127.0.0.1:0")
        .build()
        .await
        .expect("client");
    let built_addr = built.dashboard_addr().expect("dashboard");
    assert_eq!(get(built_addr, "/metrics").await.status, 200);
    drop(built);
    stops_listening(built_addr).await;
    drop(client);
    stops_listening(second_addr).await;
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_in_use_fails_the_build() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("its address");
    let error = Client::builder()
        .workers(1)
        .dashboard(addr)
        .build()
        .await
        .expect_err("the port is taken");
    assert!(
        error.to_string().contains("could not start the dashboard"),
        "{error}"
    );
    let client = Client::local(1).await.expect("client");
    assert!(client.serve_dashboard(addr).await.is_err());
    assert!(client.serve_dashboard("not an address").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_serves_its_own_metrics() {
    let server = obs::serve_metrics("127.0.0.1:0")
        .await
        .expect("metrics server");
    let addr = server.local_addr();
    let stats = WorkerStats::global();
    let (run_before, failed_before) = (stats.tasks_run(), stats.tasks_failed());
    // In-process workers count in this process's stats.
    let client = Client::builder()
        .workers(1)
        .slots(3)
        .build()
        .await
        .expect("client");
    assert_eq!(run(&client, 40).await, 2); // 7 and 32
    assert!(stats.slots() >= 3 && stats.connections() >= 1);
    assert!(stats.tasks_run() >= run_before + 40);
    assert!(stats.tasks_failed() >= failed_before + 2);

    let text = get(addr, "/metrics").await;
    assert_eq!(text.status, 200);
    let function = "function=\"dashboard_metrics::checked_inc\"";
    assert!(
        metric(&text.body, "rivulet_worker_tasks_run_total", &[function]) >= 40.0,
        "{}",
        text.body
    );
    assert!(metric(&text.body, "rivulet_worker_tasks_failed_total", &[function]) >= 2.0);
    assert!(metric(&text.body, "rivulet_worker_slots", &[]) >= 3.0);
    for gauge in [
        "rivulet_worker_busy_slots",
        "rivulet_worker_values_held",
        "rivulet_worker_connections",
    ] {
        assert!(
            text.body.contains(&format!("# TYPE {gauge} gauge")),
            "{gauge}"
        );
    }
    assert_eq!(get(addr, "/status").await.status, 404);
    drop(server);
    stops_listening(addr).await;
}

/// Records the names of the spans created anywhere in this process.
struct SpanNames {
    next: AtomicU64,
}

fn seen() -> &'static Mutex<HashSet<&'static str>> {
    static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    SEEN.get_or_init(Default::default)
}

impl tracing::Subscriber for SpanNames {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        seen()
            .lock()
            .expect("not poisoned")
            .insert(span.metadata().name());
        tracing::span::Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_sees_the_spans_of_both_sides() {
    // Global, because in-process workers run on threads of their own.
    tracing::subscriber::set_global_default(SpanNames {
        next: AtomicU64::new(0),
    })
    .expect("the only global subscriber of this test binary");
    let client = Client::local(2).await.expect("client");
    assert_eq!(run(&client, 10).await, 1);
    drop(client);
    let seen = seen().lock().expect("not poisoned").clone();
    for name in ["scatter", "submit", "fetch", "release", "task"] {
        assert!(seen.contains(name), "no `{name}` span among {seen:?}");
    }
}
