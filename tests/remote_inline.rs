//! Functions declared `#[rivulet::remote(inline)]` run on the worker's runtime thread, within a
//! budget: the same results, errors and panics as on a slot, and back to the slots for good once
//! a call takes longer than `INLINE_BUDGET`.
#![cfg(feature = "remote")]

mod support;

use std::time::Duration;

use futures::StreamExt as _;
use rivulet::prelude::*;
use rivulet::remote::registry::INLINE_BUDGET;
use rivulet::{Client, TaskErrorKind};
use support::within;

#[rivulet::remote(inline)]
fn inc(x: i64) -> i64 {
    x + 1
}

#[rivulet::remote(inline)]
fn checked_half(x: i64) -> Result<i64, String> {
    if x % 2 == 0 {
        Ok(x / 2)
    } else {
        Err(format!("{x} is odd"))
    }
}

#[rivulet::remote(inline)]
fn panics_on_seven(x: i64) -> i64 {
    assert_ne!(x, 7, "seven");
    x
}

/// The thread it ran on, after napping `nap_ms`.
#[rivulet::remote(inline)]
fn thread_of(nap_ms: u64) -> String {
    std::thread::sleep(Duration::from_millis(nap_ms));
    std::thread::current().name().unwrap_or("").to_owned()
}

/// The same, not declared inline.
#[rivulet::remote]
fn plain_thread_of(nap_ms: u64) -> String {
    std::thread::sleep(Duration::from_millis(nap_ms));
    std::thread::current().name().unwrap_or("").to_owned()
}

async fn one_worker() -> Client {
    Client::builder().workers(1).slots(1).build().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_results_come_in_order_with_their_errors() {
    let client = Client::local(2).await.unwrap();
    let results: Vec<_> = futures::stream::iter(0..400_i64)
        .scatter(&client)
        .map(inc)
        .map(checked_half)
        .buffered(32)
        .gather()
        .collect()
        .await;
    assert_eq!(results.len(), 400);
    for (x, result) in (0..400_i64).zip(&results) {
        let y = x + 1;
        match result {
            Ok(half) => assert_eq!((y % 2, *half), (0, y / 2)),
            Err(error) => {
                assert_eq!((y % 2, error.kind()), (1, TaskErrorKind::Failed), "{error}");
                assert!(
                    error.to_string().contains(&format!("{y} is odd")),
                    "{error}"
                );
            }
        }
    }
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inline_panic_is_the_item_s_error_and_the_worker_goes_on() {
    let client = one_worker().await;
    let results: Vec<_> = futures::stream::iter(5..10_i64)
        .scatter(&client)
        .map(panics_on_seven)
        .buffered(4)
        .gather()
        .collect()
        .await;
    let kinds: Vec<_> = results
        .iter()
        .map(|result| result.as_ref().map_err(|error| error.kind()))
        .collect();
    assert_eq!(
        kinds,
        [Ok(&5), Ok(&6), Err(TaskErrorKind::Panicked), Ok(&8), Ok(&9)]
    );
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inline_function_leaves_the_runtime_thread_once_it_is_slow() {
    assert!(INLINE_BUDGET < Duration::from_millis(20));
    let client = one_worker().await;
    let ran_on = |nap: u64| {
        let client = client.clone();
        async move { within(client.submit(thread_of, nap).fetch()).await.unwrap() }
    };
    let runtime_thread = ran_on(0).await;
    assert!(
        runtime_thread.starts_with("rivulet-worker"),
        "{runtime_thread}"
    );
    // Over the budget: this call still ran there (its length is known only after), ...
    assert!(ran_on(20).await.starts_with("rivulet-worker"));
    // ... and every later one goes to the slots, however short.
    for _ in 0..3 {
        let slot = ran_on(0).await;
        assert!(slot.starts_with("rivulet-slot"), "{slot}");
    }
    // A function not declared inline always runs on a slot.
    let plain = within(client.submit(plain_thread_of, 0).fetch())
        .await
        .unwrap();
    assert!(plain.starts_with("rivulet-slot"), "{plain}");
    client.shutdown().await;
}
