//! Local timing over remote values (`delay`, `rate_limit`, `latest`) on `Client::local(2)`.
//! streamz-vectors V86, V87, V90. Real QUIC between threads: real time (lower bounds only),
//! no paused clock.

#![cfg(feature = "remote")]

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use rivulet::prelude::*;
use rivulet::{Client, TaskError};
use support::within;

#[rivulet::remote]
fn inc(x: i64) -> i64 {
    x + 1
}

#[rivulet::remote]
fn checked(x: i64) -> Result<i64, String> {
    if x < 0 {
        Err(format!("bad {x}"))
    } else {
        Ok(x)
    }
}

fn values<T: std::fmt::Debug>(results: Vec<Result<T, TaskError>>) -> Vec<T> {
    results
        .into_iter()
        .map(|r| r.expect("no task failed"))
        .collect()
}

/// V87: nothing comes out before the delay; then every item, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v87_delay() {
    let client = Client::local(2).await.unwrap();
    let source = Source::new();
    let list = source
        .stream()
        .scatter(&client)
        .map(inc)
        .delay(Duration::from_millis(300))
        .gather()
        .sink_to_list();
    let start = Instant::now();
    within(async {
        for x in 0..5 {
            source.emit(x).await.unwrap();
        }
    })
    .await;
    // The emits returned at once (delay takes items as they come)...
    let emitted = start.elapsed();
    // ... and, unless this machine stalled for the whole delay, nothing is out yet.
    if emitted < Duration::from_millis(250) {
        assert!(list.is_empty(), "an item came out before its delay");
    }
    source.close();
    let out = within(list).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(values(out), vec![1, 2, 3, 4, 5]);
}

/// V86: at least `d` between items; none dropped; a failed item keeps its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v86_rate_limit() {
    let client = Client::local(2).await.unwrap();
    let start = Instant::now();
    let out = within(
        futures::stream::iter(vec![0_i64, 1, -2, 3, 4])
            .scatter(&client)
            .map(checked)
            .rate_limit(Duration::from_millis(50))
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert!(
        start.elapsed() >= Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
    let out: Vec<Result<i64, String>> = out
        .into_iter()
        .map(|r| r.map_err(|e| e.message().to_owned()))
        .collect();
    assert_eq!(
        out,
        vec![Ok(0), Ok(1), Err("bad -2".to_owned()), Ok(3), Ok(4)]
    );
}

/// V90 (in spirit): with a slow consumer only the newest item waits; the last one is never
/// lost, and what comes out is in input order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v90_latest_keeps_the_newest() {
    let client = Client::local(2).await.unwrap();
    let mut out = futures::stream::iter(0..20_i64)
        .scatter(&client)
        .map(inc)
        .latest()
        .gather();
    let mut seen = Vec::new();
    within(async {
        while let Some(item) = out.next().await {
            seen.push(item.unwrap());
            // A slow consumer: the upstream runs ahead meanwhile.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    assert_eq!(seen.last(), Some(&20), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert!(seen.len() < 20, "nothing was skipped: {seen:?}");
}
