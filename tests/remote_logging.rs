//! What the distributed mode logs: the events an operator wants (connections made and lost,
//! workers leaving, values made again) are INFO, and a clean shutdown warns about nothing.
//! Real QUIC, real workers, real time; one test (the capturing subscriber is process-global).
#![cfg(feature = "remote")]

mod support;

use std::time::Duration;

use rivulet::prelude::*;
use rivulet::remote::transport::{Identity, Trust};
use rivulet::remote::{ClientAuth, ConnectConfig};
use rivulet::worker::{Worker, WorkerAuth, WorkerConfig};
use support::log_capture::{self, Logged};
use support::within;
use tracing::Level;

#[rivulet::remote]
fn inc(x: i64) -> i64 {
    x + 1
}

/// A value too large to come back inline with its task's reply: it stays on its worker.
#[rivulet::remote]
fn bulk(n: usize) -> Vec<u8> {
    vec![7; n]
}

const BULK: usize = 256 * 1024;

const SECRET: &[u8] = b"logging";

fn dump(events: &[Logged]) -> String {
    events
        .iter()
        .map(|e| format!("{} {} {}", e.level, e.target, e.text))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits (up to 10 s) until `count` INFO events from rivulet contain `text`.
async fn info_logged(text: &str, count: usize) {
    for _ in 0..200 {
        let seen = log_capture::events()
            .iter()
            .filter(|e| e.level == Level::INFO && e.target.starts_with("rivulet"))
            .filter(|e| e.text.contains(text))
            .count();
        if seen >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "never logged {count} × INFO {text:?}; logged:\n{}",
        dump(&log_capture::events())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_events_are_info_and_a_clean_shutdown_warns_about_nothing() {
    log_capture::install();
    let mut certs = Vec::new();
    let mut workers: Vec<Worker> = (0..3)
        .map(|_| {
            let identity = Identity::self_signed(vec!["localhost".to_owned()]).unwrap();
            certs.extend(identity.certs.iter().cloned());
            Worker::spawn(WorkerConfig::new(identity, WorkerAuth::Secret(SECRET.to_vec())).slots(1))
                .expect("worker starts")
        })
        .collect();
    let client = rivulet::Client::connect(
        workers.iter().map(Worker::local_addr).collect::<Vec<_>>(),
        ConnectConfig::new(Trust::Pinned(certs), ClientAuth::Secret(SECRET.to_vec())),
    )
    .await
    .expect("connects");
    info_logged("client connected", 3).await;

    let out = within(
        futures::stream::iter(0..20_i64)
            .scatter(&client)
            .map(inc)
            .buffered(8)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out, (1..=20).map(Ok).collect::<Vec<_>>());

    // Values kept on the workers (one each); the first worker then shuts down cleanly: the client says
    // the worker left, and makes its value again elsewhere when it is fetched.
    let doomed = workers.remove(0);
    let kept: Vec<_> = (0..3).map(|_| client.submit(bulk, BULK)).collect();
    for handle in &kept {
        within(handle.ready()).await.expect("stored");
    }
    let on_doomed = kept
        .iter()
        .find(|handle| handle.worker().addr() == doomed.local_addr())
        .expect("one value per worker");
    doomed.shutdown().await;
    info_logged("worker left", 1).await;
    assert_eq!(within(on_doomed.fetch()).await, Ok(vec![7; BULK]));
    info_logged("making a value again", 1).await;
    drop(kept);

    // A clean end: the client closes, then the workers stop.
    client.shutdown().await;
    info_logged("client disconnected", 2).await;
    for worker in workers {
        worker.shutdown().await;
    }
    let spans = log_capture::spans();
    for name in ["scatter", "submit", "fetch", "task"] {
        assert!(spans.iter().any(|s| s == name), "no {name} span: {spans:?}");
    }

    let alarms: Vec<Logged> = log_capture::events()
        .into_iter()
        .filter(|e| e.level <= Level::WARN)
        .collect();
    assert!(alarms.is_empty(), "warnings:\n{}", dump(&alarms));
}
