//! Results in completion order (`buffered_unordered`, `gather_unordered`) on real workers:
//! every item exactly once, a short task overtaking a long one, failed items passing as
//! their `Err`, and never more than `n` tasks in flight. Real time, no paused clock.

#![cfg(feature = "remote")]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rivulet::prelude::*;
use rivulet::{Client, TaskError};
use support::within;

/// Sleeps `ms` milliseconds on the worker's slot, then returns it; fails on 0.
#[rivulet::remote]
fn nap(ms: u64) -> Result<u64, String> {
    if ms == 0 {
        return Err("no nap".to_owned());
    }
    std::thread::sleep(Duration::from_millis(ms));
    Ok(ms)
}

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static MOST: AtomicUsize = AtomicUsize::new(0);

/// Counts how many of its calls run at once (the workers are threads of this process).
#[rivulet::remote]
fn counted_nap(ms: u64) -> u64 {
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    MOST.fetch_max(now, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(ms));
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    ms
}

async fn client() -> Client {
    // Two workers of two slots: four tasks can run at once.
    Client::builder().workers(2).slots(2).build().await.unwrap()
}

fn shape(results: Vec<Result<u64, TaskError>>) -> Vec<Result<u64, String>> {
    results
        .into_iter()
        .map(|r| r.map_err(|e| e.message().to_owned()))
        .collect()
}

/// A long task first, short ones after: the short ones come out first; nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_unordered_gives_completion_order() {
    let client = client().await;
    let naps = vec![800_u64, 10, 20, 0, 30];
    let out = shape(
        within(
            futures::stream::iter(naps.clone())
                .scatter(&client)
                .map(nap)
                .buffered_unordered(5)
                .gather()
                .collect::<Vec<_>>(),
        )
        .await,
    );
    assert_eq!(out.len(), 5);
    assert_eq!(out.last(), Some(&Ok(800)), "{out:?}");
    let mut got: Vec<_> = out.clone();
    got.sort_by_key(|r| r.clone().unwrap_or(0));
    assert_eq!(
        got,
        vec![Err("no nap".to_owned()), Ok(10), Ok(20), Ok(30), Ok(800)]
    );
}

/// The same through `gather_unordered`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gather_unordered_gives_completion_order() {
    let client = client().await;
    let out = shape(
        within(
            futures::stream::iter(vec![800_u64, 10, 0, 20])
                .scatter(&client)
                .map(nap)
                .gather_unordered()
                .collect::<Vec<_>>(),
        )
        .await,
    );
    assert_eq!(out.len(), 4);
    assert_eq!(out.last(), Some(&Ok(800)), "{out:?}");
    assert!(out.contains(&Err("no nap".to_owned())));
}

/// `buffered_unordered(n)` never has more than `n` tasks in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_unordered_bounds_the_tasks_in_flight() {
    let client = client().await;
    let out = within(
        futures::stream::iter(vec![40_u64; 12])
            .scatter(&client)
            .map(counted_nap)
            .buffered_unordered(2)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out.len(), 12);
    assert!(out.iter().all(|r| r == &Ok(40)));
    let most = MOST.load(Ordering::SeqCst);
    assert!((1..=2).contains(&most), "{most} tasks ran at once");
}

/// `buffered_unordered(0)` panics like `buffered(0)`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_unordered_zero_panics() {
    let client = Client::local(1).await.unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = futures::stream::iter(0..1_u64)
            .scatter(&client)
            .buffered_unordered(0);
    }));
    assert!(result.is_err());
}
