//! `collect_until`: streamz's `collect`/`flush` row, lock-step emits and ends.

mod support;

use std::time::Duration;
use support::within;

use futures::stream::FusedStream;
use rivulet::prelude::*;
use tokio::time::Instant;

/// V35 (test_collect): `c = s1.collect(); s2.sink(c.flush)`.
#[tokio::test(start_paused = true)]
async fn v35_collect() {
    let (s1, s2) = (Source::new(), Source::new());
    let list = s1.stream().collect_until(s2.stream()).sink_to_list();
    within(s1.emit(1)).await.unwrap();
    within(s1.emit(2)).await.unwrap();
    assert_eq!(list.snapshot(), Vec::<Vec<i32>>::new());
    within(s2.emit("flush")).await.unwrap();
    assert_eq!(list.snapshot(), vec![vec![1, 2]]);
    within(s2.emit("flush")).await.unwrap();
    assert_eq!(list.snapshot(), vec![vec![1, 2], vec![]]);
    within(s1.emit(3)).await.unwrap();
    assert_eq!(list.snapshot(), vec![vec![1, 2], vec![]]);
    within(s2.emit("flush")).await.unwrap();
    assert_eq!(list.snapshot(), vec![vec![1, 2], vec![], vec![3]]);
}

/// Items are cached at once (their emits return without waiting for a flush, however many), and
/// a flush's emit returns once its batch has been processed downstream.
#[tokio::test(start_paused = true)]
async fn item_emits_return_at_once_and_flushes_wait_for_their_batch() {
    let (items, flush) = (Source::new(), Source::new());
    let list = items
        .stream()
        .collect_until(flush.stream())
        .then(|batch: Vec<i32>| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            batch
        })
        .sink_to_list();
    let start = Instant::now();
    for x in 0..25 {
        within(items.emit(x)).await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    within(flush.emit(())).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!(list.snapshot(), vec![(0..25).collect::<Vec<_>>()]);
}

/// When the stream ends, what is cached comes out as a last batch, and the flush subscription is
/// dropped.
#[tokio::test(start_paused = true)]
async fn the_rest_comes_out_when_the_stream_ends() {
    let (items, flush) = (Source::new(), Source::new());
    let list = items.stream().collect_until(flush.stream()).sink_to_list();
    within(async {
        items.emit(1).await.unwrap();
        flush.emit(()).await.unwrap();
        items.emit(2).await.unwrap();
        items.emit(3).await.unwrap();
        items.close();
    })
    .await;
    assert_eq!(within(list).await.unwrap(), vec![vec![1], vec![2, 3]]);
    assert_eq!(flush.subscriber_count(), 0);
}

/// Nothing cached at the end: no empty last batch.
#[tokio::test]
async fn no_empty_batch_at_the_end() {
    let batches: Vec<Vec<i32>> = futures::stream::empty()
        .collect_until(futures::stream::empty::<()>())
        .collect()
        .await;
    assert!(batches.is_empty());
}

/// When the flush ends first, the items keep being cached and come out when the stream ends.
#[tokio::test(start_paused = true)]
async fn a_flush_that_ended_loses_nothing() {
    let (items, flush) = (Source::new(), Source::new());
    let list = items.stream().collect_until(flush.stream()).sink_to_list();
    within(async {
        items.emit(1).await.unwrap();
        flush.emit(()).await.unwrap();
        flush.close();
        items.emit(2).await.unwrap();
        items.emit(3).await.unwrap();
    })
    .await;
    assert_eq!(list.snapshot(), vec![vec![1]]);
    items.close();
    assert_eq!(within(list).await.unwrap(), vec![vec![1], vec![2, 3]]);
}

/// An always-ready stream of items with a flush that never yields: the operator yields now and
/// then instead of hogging the task, and the whole stream comes out at its end.
#[tokio::test]
async fn an_always_ready_stream_is_cached_whole() {
    let mut batches =
        futures::stream::iter(0..1000).collect_until(futures::stream::pending::<()>());
    assert_eq!(batches.next().await, Some((0..1000).collect::<Vec<_>>()));
    assert_eq!(batches.next().await, None);
    assert!(batches.is_terminated());
}
