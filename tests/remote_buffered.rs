//! `RemoteStream::buffered(n)` keeps exactly `n` items' tasks in flight, counted on the worker.

#![cfg(feature = "remote")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use rivulet::Client;
use rivulet::prelude::*;

/// Tasks of `counted` running now, and the most seen at once. The workers run in this
/// process, so they see the same counters; one test at a time uses them.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static MOST: AtomicUsize = AtomicUsize::new(0);
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[rivulet::remote]
fn counted(x: u64) -> u64 {
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    MOST.fetch_max(now, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(15));
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    x + 1
}

/// The most `counted` tasks that ran at once while `items` went through `buffered(n)`, with a
/// consumer that takes `pause` over each result.
async fn most_at_once(client: &Client, n: usize, items: u64, pause: Duration) -> usize {
    MOST.store(0, Ordering::SeqCst);
    let out: Vec<_> = futures::stream::iter(0..items)
        .scatter(client)
        .map(counted)
        .buffered(n)
        .gather()
        .then(|result| async move {
            tokio::time::sleep(pause).await;
            result
        })
        .collect()
        .await;
    assert_eq!(out, (1..=items).map(Ok).collect::<Vec<_>>());
    MOST.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_n_runs_exactly_n_tasks_at_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    // Many more slots than items in flight, so the slots are never what limits.
    let client = Client::builder()
        .workers(1)
        .slots(16)
        .build()
        .await
        .unwrap();
    for n in [1, 2, 4, 8] {
        let most = most_at_once(&client, n, 6 * n as u64, Duration::ZERO).await;
        assert_eq!(most, n, "buffered({n}) ran {most} tasks at once");
    }
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_does_not_let_more_in() {
    let _one = ONE_AT_A_TIME.lock().await;
    let client = Client::builder().workers(2).slots(8).build().await.unwrap();
    let most = most_at_once(&client, 3, 12, Duration::from_millis(10)).await;
    assert!(most <= 3, "buffered(3) ran {most} tasks at once");
    client.shutdown().await;
}
