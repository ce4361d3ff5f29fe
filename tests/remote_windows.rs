//! Windows on remote streams (`partition`, `sliding_window`, `timed_window`) and `flatten`, on
//! `Client::local(2)`: values, order, where batches live, and what a batch with a failed item
//! gives (the first failure, by position). streamz-vectors V11, V12, V28, V33, V83.
//! Real QUIC between threads: real time, generous bounds (no paused clock).

#![cfg(feature = "remote")]

mod support;

use std::collections::HashSet;
use std::time::Duration;

use rivulet::prelude::*;
use rivulet::{Client, RemoteFuture, TaskError, TaskErrorKind};
use support::within;

#[rivulet::remote]
fn total(batch: Vec<i64>) -> i64 {
    batch.iter().sum()
}

#[rivulet::remote]
fn inc(x: i64) -> i64 {
    x + 1
}

/// Fails on negative numbers, naming the number.
#[rivulet::remote]
fn checked(x: i64) -> Result<i64, String> {
    if x < 0 {
        Err(format!("bad {x}"))
    } else {
        Ok(x)
    }
}

#[rivulet::remote]
fn lengths(batch: Vec<String>) -> Vec<usize> {
    batch.iter().map(String::len).collect()
}

fn values<T: std::fmt::Debug>(results: Vec<Result<T, TaskError>>) -> Vec<T> {
    results
        .into_iter()
        .map(|r| r.expect("no task failed"))
        .collect()
}

/// V28 (and the partial batch at the end): partition(2) over 0..10, partition(3) over 0..7.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v28_partition_gives_the_local_batches() {
    let client = Client::local(2).await.unwrap();
    let pairs = within(
        futures::stream::iter(0..10_i64)
            .scatter(&client)
            .partition(2)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    let local: Vec<Vec<i64>> = futures::stream::iter(0..10).partition(2).collect().await;
    assert_eq!(values(pairs), local);
    let threes = within(
        futures::stream::iter(0..7_i64)
            .scatter(&client)
            .partition(3)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(values(threes), vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
}

/// streamz.dask's `scatter().partition(n).map(sum)`: each batch summed on a worker; the items
/// were spread over both workers, and each batch is one value (one key) on one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_then_map_sums_each_batch_on_a_worker() {
    let client = Client::local(2).await.unwrap();
    let items: Vec<RemoteFuture<i64>> = within(
        futures::stream::iter(0..16_i64)
            .scatter(&client)
            .map(inc)
            .into_futures()
            .collect(),
    )
    .await;
    let spread: HashSet<_> = items.iter().map(RemoteFuture::worker).collect();
    assert_eq!(spread.len(), 2, "placement spread the items");
    let batches: Vec<RemoteFuture<Vec<i64>>> = within(
        futures::stream::iter(0..16_i64)
            .scatter(&client)
            .partition(4)
            .into_futures()
            .collect(),
    )
    .await;
    let keys: HashSet<_> = batches.iter().map(|b| (b.worker(), b.key())).collect();
    assert_eq!(keys.len(), 4, "one value per batch");
    let sums = within(
        futures::stream::iter(0..16_i64)
            .scatter(&client)
            .partition(4)
            .map(total)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(values(sums), vec![6, 22, 38, 54]);
}

/// A batch holding a failed item is that item's `Err`, the first failure by position, whichever
/// worker each item was on; the other batches are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_failed_items_is_the_first_failure() {
    let client = Client::local(2).await.unwrap();
    // Batches of three: [-x, -y, z] for even batches (two failures), all ok for odd ones. The
    // items alternate between the workers, so the first failure is on the worker that builds
    // the batch and the second is brought there: the first must still win.
    let items: Vec<i64> = (1..=24)
        .map(|i| {
            let batch = (i - 1) / 3;
            if batch % 2 == 0 && i % 3 != 0 { -i } else { i }
        })
        .collect();
    let out = within(
        futures::stream::iter(items.clone())
            .scatter(&client)
            .map(checked)
            .partition(3)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out.len(), 8);
    for (b, batch) in out.iter().enumerate() {
        let want = &items[3 * b..3 * b + 3];
        match batch {
            Ok(got) => {
                assert!(b % 2 == 1, "batch {b} should have failed: {got:?}");
                assert_eq!(got, want);
            }
            Err(error) => {
                assert!(b % 2 == 0, "batch {b} failed: {error}");
                assert_eq!(error.kind(), TaskErrorKind::Failed);
                assert_eq!(
                    error.message(),
                    format!("bad {}", want[0]),
                    "batch {b}: the first failure"
                );
            }
        }
    }
    // The first item failing (another worker's item failing after it) still gives its error.
    let out = within(
        futures::stream::iter(vec![-1_i64, -2, 3, 4, -5, 6])
            .scatter(&client)
            .map(checked)
            .partition(3)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    let messages: Vec<String> = out
        .iter()
        .map(|r| {
            r.as_ref()
                .map_or_else(|e| e.message().to_owned(), |v| format!("{v:?}"))
        })
        .collect();
    assert_eq!(messages, vec!["bad -1", "bad -5"]);
}

/// V33: sliding_window(2) with and without the partial windows, and windows of 3 summed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v33_sliding_window_gives_the_local_windows() {
    let client = Client::local(2).await.unwrap();
    for partial in [true, false] {
        let remote = within(
            futures::stream::iter(0..10_i64)
                .scatter(&client)
                .sliding_window(2, partial)
                .gather()
                .collect::<Vec<_>>(),
        )
        .await;
        let local: Vec<Vec<i64>> = futures::stream::iter(0..10)
            .sliding_window(2, partial)
            .collect()
            .await;
        assert_eq!(values(remote), local, "partial: {partial}");
    }
    let sums = within(
        futures::stream::iter(1..=6_i64)
            .scatter(&client)
            .sliding_window(3, true)
            .map(total)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(values(sums), vec![1, 3, 6, 9, 12, 15]);
}

/// A failed item makes exactly the windows it is in `Err`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_item_fails_the_windows_it_is_in() {
    let client = Client::local(2).await.unwrap();
    let out = within(
        futures::stream::iter(vec![0_i64, 1, -2, 3, 4, 5])
            .scatter(&client)
            .map(checked)
            .sliding_window(3, false)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    let shape: Vec<Result<Vec<i64>, String>> = out
        .into_iter()
        .map(|r| r.map_err(|e| e.message().to_owned()))
        .collect();
    assert_eq!(
        shape,
        vec![
            Err("bad -2".to_owned()),
            Err("bad -2".to_owned()),
            Err("bad -2".to_owned()),
            Ok(vec![3, 4, 5]),
        ]
    );
}

/// V83 (loosened for real time): every item lands in exactly one window, in order; a quiet
/// stretch gives empty windows; the end of the upstream gives a last window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v83_timed_window_batches_what_arrived() {
    let client = Client::local(2).await.unwrap();
    let source = Source::new();
    let windows = source
        .stream()
        .scatter(&client)
        .timed_window(Duration::from_millis(100))
        .gather()
        .sink_to_list();
    within(async {
        for x in 0..6_i64 {
            source.emit(x).await.unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        // Quiet for several intervals: empty windows come out.
        tokio::time::sleep(Duration::from_millis(450)).await;
        source.emit(6).await.unwrap();
        source.close();
    })
    .await;
    let windows = values(within(windows).await.unwrap());
    let all: Vec<i64> = windows.iter().flatten().copied().collect();
    assert_eq!(all, (0..7).collect::<Vec<_>>(), "{windows:?}");
    assert!(windows.iter().any(|w| w.len() >= 2), "{windows:?}");
    assert!(windows.iter().any(Vec::is_empty), "{windows:?}");
    assert_eq!(windows.last(), Some(&vec![6]), "{windows:?}");
}

/// V11 and V12: flatten of scattered batches, empty ones included; each element is its own
/// value (key) on its batch's worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v11_v12_flatten_splits_each_batch_on_its_worker() {
    let client = Client::local(2).await.unwrap();
    let out = within(
        futures::stream::iter(vec![vec![1_i64, 2, 3], vec![4, 5], vec![6, 7, 8]])
            .scatter(&client)
            .flatten()
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(values(out), (1..=8).collect::<Vec<_>>());
    let out = within(
        futures::stream::iter(vec![vec![1_i64, 2], vec![], vec![3, 4]])
            .scatter(&client)
            .flatten()
            .map(inc)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(values(out), vec![2, 3, 4, 5]);
    let elements: Vec<RemoteFuture<i64>> = within(
        futures::stream::iter(vec![vec![1_i64, 2, 3], vec![4, 5, 6]])
            .scatter(&client)
            .flatten()
            .into_futures()
            .collect(),
    )
    .await;
    assert_eq!(elements.len(), 6);
    let keys: HashSet<_> = elements.iter().map(|e| (e.worker(), e.key())).collect();
    assert_eq!(keys.len(), 6, "one key per element");
    for batch in elements.chunks(3) {
        assert!(batch.iter().all(|e| e.worker() == batch[0].worker()));
    }
}

/// partition then flatten gives the items back; a failed batch flattens to one `Err`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_then_flatten_round_trips() {
    let client = Client::local(2).await.unwrap();
    let out = within(
        futures::stream::iter(0..11_i64)
            .scatter(&client)
            .partition(3)
            .flatten()
            .map(inc)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(values(out), (1..12).collect::<Vec<_>>());
    let out = within(
        futures::stream::iter(vec![1_i64, 2, -3, 4, 5])
            .scatter(&client)
            .map(checked)
            .partition(2)
            .flatten()
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    let shape: Vec<Result<i64, String>> = out
        .into_iter()
        .map(|r| r.map_err(|e| e.message().to_owned()))
        .collect();
    assert_eq!(shape, vec![Ok(1), Ok(2), Err("bad -3".to_owned()), Ok(5)]);
}

/// Batches too large to come back with their task are fetched to find their elements; the
/// elements are still cut on the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flatten_of_large_batches() {
    let client = Client::local(2).await.unwrap();
    let words: Vec<String> = (0..6).map(|i| "x".repeat(40_000 + i)).collect();
    let out = within(
        futures::stream::iter(words.clone())
            .scatter(&client)
            .partition(3)
            .flatten()
            .partition(2)
            .map(lengths)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(
        values(out),
        vec![
            vec![40_000, 40_001],
            vec![40_002, 40_003],
            vec![40_004, 40_005]
        ]
    );
    // The batches (120 KiB each, over the inline limit) were cut on their workers from their
    // elements' sizes: none of them came to the client, only the small results did.
    let received: u64 = client
        .metrics()
        .prometheus()
        .lines()
        .filter(|line| line.starts_with("rivulet_received_bytes_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(received < 40_000, "{received} bytes came to the client");
}

/// Sizes of zero panic at the call, naming the parameter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_sizes_panic_at_the_call() {
    let client = Client::local(1).await.unwrap();
    let partition = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = futures::stream::iter(0..1_i64)
            .scatter(&client)
            .partition(0);
    }));
    let message = partition.expect_err("partition(0) panics");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("`n` must be at least 1"), "{message}");
    let sliding = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = futures::stream::iter(0..1_i64)
            .scatter(&client)
            .sliding_window(0, true);
    }));
    assert!(sliding.is_err());
}
