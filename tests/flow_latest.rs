//! `latest` on tokio's paused clock: only the newest item waits, the last is never lost (V90).

use std::time::Duration;

use futures_test::stream::StreamTestExt;
use rivulet::prelude::*;
use tokio::time::{Instant, sleep};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A consumer that takes `pause` over each item, stamping when it is done with it.
fn slow<T: Send + 'static>(
    stream: impl futures::Stream<Item = T> + Send + 'static,
    pause: Duration,
    start: Instant,
) -> rivulet::ListSink<(T, Duration)> {
    stream
        .then(move |x| async move {
            sleep(pause).await;
            x
        })
        .map(move |x| (x, start.elapsed()))
        .sink_to_list()
}

/// Checks that `out` holds no item twice and keeps the upstream's order, and that it ends with
/// the upstream's last item.
fn assert_ordered_subsequence_ending_with(out: &[u32], last: u32) {
    assert!(
        out.windows(2).all(|w| w[0] < w[1]),
        "repeated or reordered: {out:?}"
    );
    assert_eq!(out.last(), Some(&last), "{out:?}");
}

/// V90: `map(inc).latest()` into a writer that takes 50 ms. streamz's writer does not hold
/// `latest` up (its `map` returns the coroutine's future); here the consumer awaits it, which
/// is what makes `latest` matter. 2 is in the writer's hands from 0 ms; at 10 ms 3 and then 4
/// come, 4 replacing 3; the writer finishes 2 at 50 ms and 4 at 100 ms, and nothing follows.
#[tokio::test(start_paused = true)]
async fn v90_latest() {
    let start = Instant::now();
    let source = Source::new();
    let list = slow(source.stream().map(|x: u32| x + 1).latest(), ms(50), start);
    source.emit(1).await.unwrap();
    sleep(ms(10)).await;
    source.emit(2).await.unwrap();
    source.emit(3).await.unwrap();
    assert_eq!(start.elapsed(), ms(10), "latest takes items at once");
    sleep(ms(100)).await;
    assert_eq!(list.snapshot(), vec![(2, ms(50)), (4, ms(100))]);
    sleep(ms(60)).await;
    assert_eq!(list.snapshot(), vec![(2, ms(50)), (4, ms(100))]);
}

/// When the upstream ends, the newest item still comes out before the end.
#[tokio::test(start_paused = true)]
async fn the_last_item_is_never_lost() {
    let start = Instant::now();
    let source = Source::new();
    let list = slow(source.stream().latest(), ms(100), start);
    for x in 0..5 {
        source.emit(x).await.unwrap();
    }
    source.close();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(list.await.unwrap(), vec![(0, ms(100)), (4, ms(200))]);

    // An upstream that is always ready is read to its end before the consumer looks.
    let newest: Vec<u32> = futures::stream::iter(0..100).latest().collect().await;
    assert_eq!(newest, vec![99]);
}

/// A consumer that keeps up sees every item, once.
#[tokio::test(start_paused = true)]
async fn a_consumer_that_keeps_up_sees_everything() {
    let source = Source::new();
    let list = source.stream().latest().sink_to_list();
    for x in 0..50 {
        source.emit(x).await.unwrap();
    }
    source.close();
    assert_eq!(list.await.unwrap(), (0..50).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn nothing_repeated_or_lost_at_the_end_with_spurious_pendings_upstream() {
    let out: Vec<u32> = futures::stream::iter(0..500)
        .interleave_pending()
        .latest()
        .interleave_pending()
        .collect()
        .await;
    assert_ordered_subsequence_ending_with(&out, 499);

    let start = Instant::now();
    let source = Source::new();
    let list = slow(source.stream().interleave_pending().latest(), ms(30), start);
    for x in 0..20 {
        source.emit(x).await.unwrap();
        sleep(ms(7)).await;
    }
    source.close();
    let out: Vec<u32> = list.await.unwrap().into_iter().map(|(x, _)| x).collect();
    assert_ordered_subsequence_ending_with(&out, 19);
    // In every 7 ms and out every 30: the consumer sees the first item, then about one in four.
    assert_eq!(out, vec![0, 4, 8, 12, 17, 19]);
}

/// A panic upstream happens in the task of `latest`; the consumer raises it again, so the sink
/// driving the pipeline reports it.
#[tokio::test(start_paused = true)]
async fn an_upstream_panic_reaches_the_sink() {
    let source = Source::new();
    let list = source
        .stream()
        .retain(|x: &i32| {
            assert!(*x < 3, "too big: {x}");
            true
        })
        .latest()
        .sink_to_list();
    for x in 0..4 {
        source.emit(x).await.unwrap();
    }
    let err = list.await.unwrap_err();
    assert!(matches!(err, rivulet::Error::Panicked { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("`retain` closure panicked: too big: 3"),
        "{err}"
    );
    assert_eq!(source.subscriber_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_newest_item_before_a_panic_still_arrives() {
    let upstream = futures::stream::iter(0..4).map(|x: i32| {
        assert!(x < 3, "too big: {x}");
        x
    });
    let mut newest = std::pin::pin!(upstream.latest());
    assert_eq!(newest.next().await, Some(2));
    let payload = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(newest.next()))
        .await
        .unwrap_err();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("too big: 3")
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_latest_stops_its_task() {
    let source = Source::<u32>::new();
    let mut newest = Box::pin(source.stream().latest());
    let mut next = tokio_test::task::spawn(newest.next());
    tokio_test::assert_pending!(next.poll()); // starts the task
    drop(next);
    source.emit(1).await.unwrap(); // taken by the task at once
    assert_eq!(source.subscriber_count(), 1);
    drop(newest);
    tokio::task::yield_now().await;
    assert_eq!(source.subscriber_count(), 0);
}
