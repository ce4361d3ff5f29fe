//! streamz's Dask rows (streamz-vectors §2.8) on `Client::local(2)`, plus failing functions.
//! Real QUIC between threads: real time, generous bounds (no paused clock).
#![cfg(feature = "remote")]

mod support;

use std::time::{Duration, Instant};
use support::within;

use rivulet::prelude::*;
use rivulet::{Client, TaskError};

#[rivulet::remote]
fn inc(x: i64) -> i64 {
    x + 1
}

#[rivulet::remote]
fn slow_inc(x: i64) -> i64 {
    std::thread::sleep(Duration::from_millis(500));
    x + 1
}

#[rivulet::remote]
fn add(pair: (i64, i64)) -> i64 {
    pair.0 + pair.1
}

#[rivulet::remote]
fn running_sum(total: i64, x: i64) -> (i64, i64) {
    (total + x, total + x)
}

#[rivulet::remote]
fn with_state(total: i64, x: i64) -> (i64, (i64, i64)) {
    (total + x, (x, total + x))
}

#[rivulet::remote]
fn random_value(_x: i64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(std::process::id() as u64);
    hasher.finish()
}

#[rivulet::remote]
fn increment_all(batch: Vec<i64>) -> Vec<i64> {
    batch.into_iter().map(|v| v + 1).collect()
}

#[rivulet::remote]
fn reciprocal(x: i64) -> Result<i64, String> {
    if x == 0 {
        Err("division by zero".to_owned())
    } else {
        Ok(100 / x)
    }
}

#[rivulet::remote]
fn explode(x: i64) -> i64 {
    assert!(x != 3, "three is not allowed");
    x
}

#[rivulet::remote]
fn is_even(x: i64) -> bool {
    x % 2 == 0
}

fn values<T: std::fmt::Debug>(results: Vec<Result<T, TaskError>>) -> Vec<T> {
    results
        .into_iter()
        .map(|r| r.expect("no task failed"))
        .collect()
}

/// V113: scatter → map(inc); gathered values, and the futures themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v113_map() {
    let client = Client::local(2).await.unwrap();
    let source = Source::new();
    let mapped = source.stream().scatter(&client).map(inc).buffered(4);
    let gathered = mapped.gather().sink_to_list();
    let futures_source = Source::new();
    let futures = futures_source
        .stream()
        .scatter(&client)
        .map(inc)
        .into_futures()
        .sink_to_list();
    within(async {
        for x in 0..5 {
            source.emit(x).await.unwrap();
        }
        source.close();
        assert_eq!(values(gathered.await.unwrap()), vec![1, 2, 3, 4, 5]);
        for x in 0..5 {
            futures_source.emit(x).await.unwrap();
        }
        futures_source.close();
        let handles: Vec<rivulet::RemoteFuture<i64>> = futures.await.unwrap();
        let mut fetched = Vec::new();
        for handle in &handles {
            fetched.push(handle.fetch().await.unwrap());
        }
        assert_eq!(fetched, vec![1, 2, 3, 4, 5]);
        // Placement spread the items over both workers.
        let workers: std::collections::HashSet<_> = handles.iter().map(|h| h.worker()).collect();
        assert_eq!(workers.len(), 2);
    })
    .await;
}

/// V115: emitting the same value three times makes three distinct tasks (unique keys).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v115_non_unique_emit() {
    let client = Client::local(2).await.unwrap();
    let handles: Vec<rivulet::RemoteFuture<u64>> = within(
        futures::stream::iter([0, 0, 0])
            .scatter(&client)
            .map(random_value)
            .into_futures()
            .collect(),
    )
    .await;
    let keys: std::collections::HashSet<_> =
        handles.iter().map(|h| (h.worker(), h.key())).collect();
    assert_eq!(keys.len(), 3);
    let results: Vec<u64> = within(async {
        let mut out = Vec::new();
        for h in &handles {
            out.push(h.fetch().await.unwrap());
        }
        out
    })
    .await;
    assert!(results.iter().any(|r| *r != results[0]), "{results:?}");
}

/// V116: remote map, then a local running sum of the gathered values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v116_scan_after_gather() {
    let client = Client::local(2).await.unwrap();
    let sums: Vec<i64> = within(
        futures::stream::iter(0..5)
            .scatter(&client)
            .map(inc)
            .gather()
            .map(|r| r.unwrap())
            .scan(0, |total, x| {
                *total += x;
                futures::future::ready(Some(*total))
            })
            .collect(),
    )
    .await;
    assert_eq!(sums, vec![1, 3, 6, 10, 15]);
}

/// V117 and V119: accumulate with its state on a worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v117_v119_remote_accumulate() {
    let client = Client::local(2).await.unwrap();
    let sums = within(
        futures::stream::iter(0..3)
            .scatter(&client)
            .accumulate(0, running_sum)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(values(sums), vec![0, 1, 3]);
    let pairs = within(
        futures::stream::iter(0..3)
            .scatter(&client)
            .accumulate(0, with_state)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    let pairs = values(pairs);
    assert_eq!(pairs.last().map(|p| p.1), Some(3));
}

/// V118: zip of two scattered streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v118_zip() {
    let client = Client::local(2).await.unwrap();
    let a = Source::new();
    let b = Source::new();
    let list = a
        .stream()
        .scatter(&client)
        .zip(b.stream().scatter(&client))
        .gather()
        .sink_to_list();
    within(async {
        a.emit(1_i64).await.unwrap();
        b.emit('a').await.unwrap();
        a.emit(2).await.unwrap();
        b.emit('b').await.unwrap();
        a.close();
        b.close();
        assert_eq!(values(list.await.unwrap()), vec![(1, 'a'), (2, 'b')]);
    })
    .await;
}

/// V120: a function over a pair (streamz's starmap with a constant).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v120_starmap() {
    let client = Client::local(2).await.unwrap();
    let out = within(
        futures::stream::iter(0..5)
            .map(|i| (i, i + 10))
            .scatter(&client)
            .map(add)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(values(out), vec![10, 12, 14, 16, 18]);
}

/// V125: buffered(5) over 2×1 slots: the first five emits return at once, order is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v125_buffer() {
    let client = Client::builder().workers(2).slots(1).build().await.unwrap();
    let source = Source::new();
    let list = source
        .stream()
        .scatter(&client)
        .map(slow_inc)
        .buffered(5)
        .gather()
        .sink_to_list();
    within(async {
        let start = Instant::now();
        for x in 0..5 {
            source.emit(x).await.unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "{:?}",
            start.elapsed()
        );
        for x in 5..10 {
            source.emit(x).await.unwrap();
        }
        assert!(start.elapsed() > Duration::from_millis(500 / 3));
        source.close();
        assert_eq!(values(list.await.unwrap()), (1..=10).collect::<Vec<_>>());
        assert!(start.elapsed() < Duration::from_secs(5));
    })
    .await;
}

/// A function returning `Err` fails that item only; the worker serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn err_result_fails_one_item() {
    let client = Client::local(2).await.unwrap();
    let out = within(
        futures::stream::iter([5, 0, 4])
            .scatter(&client)
            .map(reciprocal)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out[0], Ok(20));
    let error = out[1].clone().unwrap_err();
    assert!(error.to_string().contains("division by zero"), "{error}");
    assert_eq!(out[2], Ok(25));
}

/// A panicking function fails that item; later maps pass the error through unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_fails_one_item_and_passes_through() {
    let client = Client::local(2).await.unwrap();
    let out = within(
        futures::stream::iter(1..6)
            .scatter(&client)
            .map(explode)
            .map(inc)
            .retain(is_even)
            .buffered(4)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out.len(), 3, "{out:?}"); // 2 and 4 (inc'ed to even) pass, and the failure
    assert_eq!(out[0], Ok(2));
    let error = out[1].clone().unwrap_err();
    assert!(
        error.to_string().contains("three is not allowed"),
        "{error}"
    );
    assert_eq!(out[2], Ok(6));
    // The worker still serves.
    let again = within(
        futures::stream::iter([10])
            .scatter(&client)
            .map(inc)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(again, vec![Ok(11)]);
}

/// Remote retain keeps input order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_keeps_order() {
    let client = Client::local(2).await.unwrap();
    let out = within(
        futures::stream::iter(0..20)
            .scatter(&client)
            .retain(is_even)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(
        values(out),
        (0..20).filter(|x| x % 2 == 0).collect::<Vec<_>>()
    );
}

/// Dask's `client.submit(f, x)`: one task on one input, awaited with `fetch`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_runs_one_task_and_fetch_awaits_it() {
    let client = rivulet::Client::local(2).await.expect("workers start");
    let handles: Vec<_> = (0..20_i64).map(|x| client.submit(inc, x)).collect();
    let mut out = Vec::new();
    for handle in &handles {
        out.push(handle.fetch().await.expect("ran"));
    }
    assert_eq!(out, (1..=20).collect::<Vec<_>>());
    let workers: std::collections::HashSet<_> = handles.iter().map(|h| h.worker()).collect();
    assert_eq!(workers.len(), 2, "tasks are placed like scattered items");
}
