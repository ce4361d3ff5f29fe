//! `map_async`: order, the concurrency limit, back-pressure on a rendezvous source, panics.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use rivulet::prelude::*;
use support::within;
use tokio::time::{Instant, sleep};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Counts the futures running at once and remembers the most.
#[derive(Clone, Default)]
struct Gauge {
    now: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl Gauge {
    async fn run<T>(&self, delay: Duration, x: T) -> T {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        sleep(delay).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        x
    }
}

proptest! {
    /// Whatever the delays, the outputs are the inputs' results in input order, at most `n` run
    /// at once, and exactly `min(n, len)` do when every delay is long enough to overlap.
    #[test]
    fn in_order_and_within_the_limit(delays in prop::collection::vec(1..50_u64, 0..30), n in 1..6_usize) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let gauge = Gauge::default();
        let g = gauge.clone();
        let items: Vec<(usize, u64)> = delays.iter().copied().enumerate().collect();
        let out: Vec<usize> = rt.block_on(
            futures::stream::iter(items.clone())
                .map_async(n, move |(i, d)| {
                    let g = g.clone();
                    async move { g.run(ms(d), i * 10).await }
                })
                .collect(),
        );
        prop_assert_eq!(out, (0..delays.len()).map(|i| i * 10).collect::<Vec<_>>());
        prop_assert!(gauge.most.load(Ordering::SeqCst) <= n);
        if delays.len() >= n {
            prop_assert_eq!(gauge.most.load(Ordering::SeqCst), n.min(delays.len()));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn n_at_once_gives_n_times_the_throughput() {
    let start = Instant::now();
    let out: Vec<u32> = futures::stream::iter(0..12)
        .map_async(4, |x| async move {
            sleep(ms(100)).await;
            x + 1
        })
        .collect()
        .await;
    assert_eq!(out, (1..=12).collect::<Vec<_>>());
    assert_eq!(start.elapsed(), ms(300));
}

/// With a rendezvous source, the emit that fills the last of the `n` slots returns once a slot
/// is free again; those before it return at once.
#[tokio::test(start_paused = true)]
async fn takes_items_while_a_slot_is_free() {
    let source = Source::new();
    let list = source
        .stream()
        .map_async(3, |x: u32| async move {
            sleep(ms(100)).await;
            x
        })
        .sink_to_list();
    let start = Instant::now();
    for x in 0..2 {
        within(source.emit(x)).await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    within(source.emit(2)).await.unwrap();
    assert_eq!(start.elapsed(), ms(100), "the 3rd fills the last slot");
    within(source.emit(3)).await.unwrap();
    assert_eq!(start.elapsed(), ms(100));
    source.close();
    assert_eq!(within(list).await.unwrap(), vec![0, 1, 2, 3]);
    assert_eq!(start.elapsed(), ms(200));
}

/// streamz's map_async: emit, and the result is there.
#[tokio::test(start_paused = true)]
async fn emit_then_result_like_streamz() {
    let source = Source::new();
    let list = source
        .stream()
        .map_async(1, |x: i32| async move { x + 1 })
        .sink_to_list();
    for x in 0..3 {
        within(source.emit(x)).await.unwrap();
    }
    source.close();
    assert_eq!(within(list).await.unwrap(), vec![1, 2, 3]);
}

#[tokio::test]
async fn a_panicking_future_ends_only_its_pipeline() {
    let bad = futures::stream::iter(0..3)
        .map_async(2, |x: u32| async move {
            assert!(x != 1, "one is bad");
            x
        })
        .sink_to_list();
    let good = futures::stream::iter(0..3)
        .map_async(2, |x| async move { x })
        .sink_to_list();
    let err = bad.await.unwrap_err();
    assert!(err.to_string().contains("one is bad"), "{err}");
    assert!(err.to_string().contains("map_async"), "{err}");
    assert_eq!(good.await.unwrap(), vec![0, 1, 2]);
}

#[test]
#[should_panic(expected = "map_async: `n` must be at least 1")]
fn zero_limit_panics() {
    let _ = futures::stream::iter([1]).map_async(0, |x| async move { x });
}
