//! Acknowledgements through the distributed mode: `scatter` of `Acked<T>` sends `T` and keeps
//! the ack on the client with the item; it is done when the gathered result is dropped
//! (`gather_acked`), when gathered (`gather`), when a remote `retain` drops the item, or when its
//! batch is; a lost worker's item is done only once it is made again and gathered, and an item
//! lost with every worker is never done. Real workers over QUIC, real time.
#![cfg(feature = "remote")]

mod support;

use std::time::Duration;

use futures::StreamExt;
use rivulet::ack::Tracker;
use rivulet::prelude::*;
use rivulet::remote::{ClientAuth, ConnectConfig};
use rivulet::worker::Worker;
use rivulet::{Client, TaskErrorKind};
use support::within;

#[rivulet::remote]
fn double(x: i64) -> i64 {
    2 * x
}

#[rivulet::remote]
fn is_even(x: i64) -> bool {
    x % 2 == 0
}

#[rivulet::remote]
fn total(batch: Vec<i64>) -> i64 {
    batch.iter().sum()
}

#[rivulet::remote]
fn slow(x: i64) -> i64 {
    std::thread::sleep(Duration::from_millis(20));
    x
}

fn items(tracker: &Tracker<u64>, n: u64) -> Vec<rivulet::Acked<i64>> {
    (1..=n).map(|i| tracker.acked(i as i64, i)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_is_done_when_its_gathered_result_is_dropped() {
    let client = Client::local(2).await.unwrap();
    let tracker = Tracker::new();
    let mut results = futures::stream::iter(items(&tracker, 5))
        .scatter(&client)
        .map(double)
        .buffered(2)
        .gather_acked();
    let mut held = Vec::new();
    for i in 1..=5 {
        let result = within(results.next()).await.expect("an item");
        assert_eq!(result.value, Ok(2 * i));
        held.push(result);
        // Everything gathered is held, so nothing is committed.
        assert_eq!(tracker.committed(), None, "after {i}");
    }
    // Dropping results out of order commits only what is done up to each point, in order.
    drop(held.remove(1)); // item 2
    assert_eq!(tracker.committed(), None);
    drop(held.remove(0)); // item 1
    assert_eq!(tracker.committed(), Some(2));
    drop(held);
    assert_eq!(tracker.committed(), Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_gather_finishes_an_item_as_it_is_gathered() {
    let client = Client::local(2).await.unwrap();
    let tracker = Tracker::new();
    let out: Vec<_> = within(
        futures::stream::iter(items(&tracker, 4))
            .scatter(&client)
            .map(double)
            .gather()
            .collect(),
    )
    .await;
    assert_eq!(out, vec![Ok(2), Ok(4), Ok(6), Ok(8)]);
    assert_eq!(tracker.committed(), Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_a_remote_retain_drops_is_done() {
    let client = Client::local(2).await.unwrap();
    let tracker = Tracker::new();
    let kept: Vec<_> = within(
        futures::stream::iter(items(&tracker, 6))
            .scatter(&client)
            .retain(is_even)
            .gather_acked()
            .collect(),
    )
    .await;
    let values: Vec<_> = kept.iter().map(|item| item.value.clone()).collect();
    assert_eq!(values, vec![Ok(2), Ok(4), Ok(6)]);
    // Item 1 (dropped by retain) is done; item 2 is held by its result.
    assert_eq!(tracker.committed(), Some(1));
    drop(kept);
    assert_eq!(tracker.committed(), Some(6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batchs_items_are_done_when_the_batch_is() {
    let client = Client::local(2).await.unwrap();
    let tracker = Tracker::new();
    let mut sums = futures::stream::iter(items(&tracker, 5))
        .scatter(&client)
        .partition(2)
        .map(total)
        .gather_acked();
    let first = within(sums.next()).await.expect("a batch");
    assert_eq!(first.value, Ok(3));
    // The batch [1, 2] stands for both items.
    assert_eq!(first.ack.holders(), 1);
    let second = within(sums.next()).await.expect("a batch");
    assert_eq!(second.value, Ok(7));
    assert_eq!(tracker.committed(), None);
    drop(first);
    assert_eq!(tracker.committed(), Some(2));
    drop(second);
    assert_eq!(tracker.committed(), Some(4));
    // Item 5 is the partial batch the stream ends with.
    let last = within(sums.next()).await.expect("the partial batch");
    assert_eq!(last.value, Ok(5));
    assert_eq!(tracker.committed(), Some(4));
    drop(last);
    assert_eq!(tracker.committed(), Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_workers_items_are_done_only_once_made_again_and_gathered() {
    const SECRET: &[u8] = b"acks";
    let (mut workers, trust) = support::workers::in_process(2, 1, SECRET);
    let client = Client::connect(
        workers.iter().map(Worker::local_addr),
        ConnectConfig::new(trust, ClientAuth::Secret(SECRET.to_vec())),
    )
    .await
    .unwrap();
    let tracker = Tracker::new();
    let mut results = futures::stream::iter(items(&tracker, 40))
        .scatter(&client)
        .map(slow)
        .buffered(8)
        .gather_acked();
    let mut seen = 0;
    let mut held = Vec::new();
    let mut doomed = Some(workers.remove(0));
    while let Some(result) = within(results.next()).await {
        seen += 1;
        assert_eq!(result.value, Ok(seen), "item {seen}");
        if seen == 5 {
            // One worker goes while items are in flight on it.
            if let Some(worker) = doomed.take() {
                worker.shutdown().await;
            }
        }
        // Nothing gathered and held is done, whatever became of its worker.
        held.push(result);
        assert_eq!(tracker.committed(), None);
    }
    assert_eq!(seen, 40);
    drop(held);
    assert_eq!(tracker.committed(), Some(40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_lost_with_every_worker_is_never_done() {
    let client = Client::local(1).await.unwrap();
    let tracker = Tracker::new();
    let results = futures::stream::iter(items(&tracker, 3))
        .scatter(&client)
        .map(slow)
        .buffered(3)
        .gather_acked();
    client.shutdown().await;
    let out: Vec<_> = within(results.collect::<Vec<_>>()).await;
    assert_eq!(out.len(), 3);
    for item in &out {
        let error = item.value.as_ref().expect_err("no worker is left");
        assert!(
            matches!(
                error.kind(),
                TaskErrorKind::WorkerLost | TaskErrorKind::NoWorkers
            ),
            "{error}"
        );
    }
    drop(out);
    // The source replays them after a restart: it commits none of them.
    assert_eq!(tracker.committed(), None);
    assert_eq!(tracker.outstanding(), 3);
}
