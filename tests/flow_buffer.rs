//! `buffer` on tokio's paused clock: back-pressure, running ahead, panics (V82, V88, V95).

use std::time::Duration;

use futures_test::stream::StreamTestExt;
use rivulet::prelude::*;
use tokio::time::{Instant, sleep};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A consumer like streamz's tests use: it takes the next item, then sleeps `pause`.
fn slow_reader<T: Send + 'static>(
    pause: Duration,
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            sleep(pause).await;
        }
    })
}

/// V82: with no buffer, a slow sink paces the emitter. streamz asserts `elapsed >= 0.2 s`;
/// exactly: the reader takes 1 at once, the queue of 2 holds 3 and 6, the fourth emit waits for
/// the reader's next take (100 ms) and the fifth for the one after (200 ms).
#[tokio::test(start_paused = true)]
async fn v82_backpressure() {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let _reader = slow_reader(ms(100), rx);
    let source = Source::new();
    let _done = source
        .stream()
        .map(|x: i64| x + 1)
        .scan(0, |acc, x| {
            *acc += x;
            futures::future::ready(Some(*acc))
        })
        .then(move |x| {
            let tx = tx.clone();
            async move { tx.send(x).await.unwrap() }
        })
        .sink(drop);
    let start = Instant::now();
    let mut returned = Vec::new();
    for x in 0..5 {
        source.emit(x).await.unwrap();
        returned.push(start.elapsed());
    }
    assert_eq!(returned, vec![ms(0), ms(0), ms(0), ms(100), ms(200)]);
}

/// The case: a slow sink paces the emitter, and a `buffer(n)` lets exactly n run ahead.
/// The sink takes 100 ms an item: item 0 is in its hands and 1, 2 wait in the buffer at once;
/// from then on each emit waits for the sink to finish one.
#[tokio::test(start_paused = true)]
async fn a_slow_sink_paces_the_emitter_and_buffer_lets_n_run_ahead() {
    let start = Instant::now();
    let source = Source::new();
    let list = source
        .stream()
        .buffer(2)
        .then(|x: u32| async move {
            sleep(ms(100)).await;
            x
        })
        .map(move |x| (x, start.elapsed()))
        .sink_to_list();
    let mut returned = Vec::new();
    for x in 0..6 {
        source.emit(x).await.unwrap();
        returned.push(start.elapsed());
    }
    assert_eq!(
        returned,
        vec![ms(0), ms(0), ms(0), ms(100), ms(200), ms(300)]
    );
    source.close();
    assert_eq!(
        list.await.unwrap(),
        (0..6)
            .map(|x| (x, ms(100 * (u64::from(x) + 1))))
            .collect::<Vec<_>>()
    );
}

/// With the consumer blocked on item 0, exactly `n` further emits complete at once and the next
/// stays pending (the buffer's task holds that item in hand, unacknowledged) until the consumer
/// moves on.
async fn exactly_n_run_ahead(n: usize) {
    let source = Source::new();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let mut released = Some(released);
    let list = source
        .stream()
        .buffer(n)
        .then(move |x: usize| {
            let gate = if x == 0 { released.take() } else { None };
            async move {
                if let Some(gate) = gate {
                    gate.await.unwrap();
                }
                x
            }
        })
        .sink_to_list();
    source.emit(0).await.unwrap();
    let start = Instant::now();
    for x in 1..=n {
        let emitted = tokio::time::timeout(ms(1), source.emit(x)).await;
        assert_eq!(emitted, Ok(Ok(())), "emit {x} of {n} completes at once");
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    let mut next = tokio_test::task::spawn(source.emit(n + 1));
    tokio_test::assert_pending!(next.poll());
    sleep(ms(1000)).await;
    tokio_test::assert_pending!(next.poll());
    assert!(list.is_empty(), "the consumer is still on item 0");

    release.send(()).unwrap();
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    assert!(next.is_woken());
    tokio_test::assert_ready_eq!(next.poll(), Ok(()));
    drop(next);
    source.close();
    assert_eq!(list.await.unwrap(), (0..=n + 1).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn buffer_1_lets_exactly_1_run_ahead() {
    exactly_n_run_ahead(1).await;
}

#[tokio::test(start_paused = true)]
async fn buffer_3_lets_exactly_3_run_ahead() {
    exactly_n_run_ahead(3).await;
}

/// V88: `map(inc).buffer(10).map(inc).rate_limit(0.05)`. streamz: the first ten emits take
/// < 0.01 s with L empty, the next five take > 0.04 s with L non-empty. Exactly: the first item
/// passes the limiter at once (streamz's L is empty only because its buffer loop has not run
/// yet), nine wait in the buffer; of the next five, one fills the buffer and each other waits
/// for the limiter to take one from the buffer, every 50 ms.
#[tokio::test(start_paused = true)]
async fn v88_buffer() {
    let source = Source::new();
    let list = source
        .stream()
        .map(|x: i64| x + 1)
        .buffer(10)
        .map(|x| x + 1)
        .rate_limit(ms(50))
        .sink_to_list();
    let start = Instant::now();
    for x in 0..10 {
        source.emit(x).await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(list.snapshot(), vec![2]);

    let start = Instant::now();
    for x in 0..5 {
        source.emit(x).await.unwrap();
    }
    assert_eq!(start.elapsed(), ms(200));
    assert_eq!(list.snapshot(), vec![2, 3, 4, 5, 6]);
}

/// V95 (`async def` sink): `map(inc).buffer(3)` into a sink that takes 100 ms an item, six
/// awaited emits. streamz: `0.2 < elapsed < 0.4` and `2 <= len(L) <= 4`. On the paused clock
/// there is no overhead, so the bound is met with equality: item 0 is in the sink's hands,
/// three wait in the buffer, the fifth emit waits 100 ms and the sixth 200 ms; by then the sink
/// has written two items.
#[tokio::test(start_paused = true)]
async fn v95_await_syntax() {
    let source = Source::new();
    let list = source
        .stream()
        .map(|x: i64| x + 1)
        .buffer(3)
        .then(|x| async move {
            sleep(ms(100)).await;
            x
        })
        .sink_to_list();
    let start = Instant::now();
    for x in 0..6 {
        source.emit(x).await.unwrap();
    }
    assert_eq!(start.elapsed(), ms(200));
    assert_eq!(list.snapshot(), vec![1, 2]);
}

#[tokio::test(start_paused = true)]
async fn nothing_lost_or_repeated_with_spurious_pendings_upstream() {
    let out: Vec<u32> = futures::stream::iter(0..500)
        .interleave_pending()
        .buffer(3)
        .interleave_pending()
        .collect()
        .await;
    assert_eq!(out, (0..500).collect::<Vec<_>>());

    let source = Source::new();
    let list = source
        .stream()
        .interleave_pending()
        .buffer(2)
        .then(|x: u32| async move {
            if x % 7 == 0 {
                sleep(ms(3)).await;
            }
            x
        })
        .sink_to_list();
    for x in 0..100 {
        source.emit(x).await.unwrap();
    }
    source.close();
    assert_eq!(list.await.unwrap(), (0..100).collect::<Vec<_>>());
}

/// A panic upstream happens in the buffer's task; the consumer raises it again, after the
/// items sent before it, so the sink driving the pipeline reports it.
#[tokio::test(start_paused = true)]
async fn an_upstream_panic_reaches_the_sink() {
    let source = Source::new();
    let list = source
        .stream()
        .retain(|x: &i32| {
            assert!(*x < 3, "too big: {x}");
            true
        })
        .buffer(4)
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
    assert_eq!(
        source.subscriber_count(),
        0,
        "the panicked task let go of its subscription"
    );
}

#[tokio::test(start_paused = true)]
async fn items_before_a_panic_still_arrive() {
    let upstream = futures::stream::iter(0..4).map(|x: i32| {
        assert!(x < 3, "too big: {x}");
        x
    });
    let mut buffered = std::pin::pin!(upstream.buffer(8));
    assert_eq!(buffered.next().await, Some(0));
    assert_eq!(buffered.next().await, Some(1));
    assert_eq!(buffered.next().await, Some(2));
    let payload = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(buffered.next()))
        .await
        .unwrap_err();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("too big: 3")
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_buffer_stops_its_task() {
    let source = Source::<u32>::new();
    let mut buffered = Box::pin(source.stream().buffer(2));
    let mut next = tokio_test::task::spawn(buffered.next());
    tokio_test::assert_pending!(next.poll()); // starts the task
    drop(next);
    tokio::task::yield_now().await;
    assert_eq!(source.subscriber_count(), 1);
    drop(buffered);
    tokio::task::yield_now().await;
    assert_eq!(source.subscriber_count(), 0);
    assert_eq!(source.emit(1).await, Ok(()), "nobody holds up the emitter");
}

#[test]
#[should_panic(expected = "buffer: `n` must be at least 1")]
fn zero_size_is_refused() {
    let _ = futures::stream::empty::<i32>().buffer(0);
}
