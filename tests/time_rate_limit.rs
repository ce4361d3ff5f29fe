//! `rate_limit` on tokio's paused clock (V86).

use std::time::Duration;

use rivulet::prelude::*;
use tokio::time::{Instant, sleep};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// V86: five awaited emits through `rate_limit(50 ms)`; streamz asserts `elapsed > 0.2 s` and
/// five items. Exactly: the items pass at 0, 50, ... 200 ms. The limiter pulls its upstream
/// only once it may pass another item, and a rendezvous emit returns when its item's taker comes
/// back for the next, so each emit returns 50 ms after its item passed: the last at 250 ms.
#[tokio::test(start_paused = true)]
async fn v86_rate_limit() {
    let start = Instant::now();
    let source = Source::new();
    let list = source
        .stream()
        .rate_limit(ms(50))
        .map(move |x: u32| (x, start.elapsed()))
        .sink_to_list();
    let mut returned = Vec::new();
    for x in 0..5 {
        source.emit(x).await.unwrap();
        returned.push(start.elapsed());
    }
    assert_eq!(returned, vec![ms(50), ms(100), ms(150), ms(200), ms(250)]);
    assert_eq!(
        list.snapshot(),
        vec![
            (0, ms(0)),
            (1, ms(50)),
            (2, ms(100)),
            (3, ms(150)),
            (4, ms(200))
        ]
    );
}

/// Back-pressure: while the limiter waits, the next emit stays pending.
#[tokio::test(start_paused = true)]
async fn a_waiting_limiter_holds_the_emitter() {
    let source = Source::new();
    let list = source.stream().rate_limit(ms(50)).sink_to_list();
    let mut first = tokio_test::task::spawn(source.emit(1));
    tokio_test::assert_pending!(first.poll());
    sleep(ms(49)).await; // the item passed at 0; the limiter has not come back for more
    assert_eq!(list.snapshot(), vec![1]);
    tokio_test::assert_pending!(first.poll());
    sleep(ms(1)).await;
    tokio::task::yield_now().await;
    tokio_test::assert_ready_eq!(first.poll(), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn rate_limit_never_drops() {
    let start = Instant::now();
    let out: Vec<(u32, Duration)> = futures::stream::iter(0..20)
        .rate_limit(ms(5))
        .map(|x| (x, start.elapsed()))
        .collect()
        .await;
    assert_eq!(
        out,
        (0..20)
            .map(|x| (x, ms(5 * u64::from(x))))
            .collect::<Vec<_>>()
    );
}

/// The gap is measured from the previous output: after a quiet spell an item passes at once.
#[tokio::test(start_paused = true)]
async fn an_item_after_a_quiet_spell_passes_at_once() {
    let start = Instant::now();
    let source = Source::with_capacity(4);
    let list = source
        .stream()
        .rate_limit(ms(50))
        .map(move |x: u32| (x, start.elapsed()))
        .sink_to_list();
    source.emit(0).await.unwrap();
    sleep(ms(80)).await;
    source.emit(1).await.unwrap();
    source.emit(2).await.unwrap();
    sleep(ms(100)).await;
    assert_eq!(list.snapshot(), vec![(0, ms(0)), (1, ms(80)), (2, ms(130))]);
}

#[tokio::test(start_paused = true)]
async fn zero_interval_is_harmless() {
    let start = Instant::now();
    let out: Vec<u32> = futures::stream::iter(0..5)
        .rate_limit(Duration::ZERO)
        .collect()
        .await;
    assert_eq!(out, vec![0, 1, 2, 3, 4]);
    assert_eq!(start.elapsed(), Duration::ZERO);
}
