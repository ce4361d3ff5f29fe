//! `delay` on tokio's paused clock (V87).

use std::time::Duration;

use rivulet::prelude::*;
use tokio::time::{Instant, sleep};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// V87, adapted: rivulet's delay is a true delay (streamz only spaces items apart), so the five
/// items emitted at once all come out together, 20 ms later; at streamz's 40 ms check all five
/// are there, not fewer.
#[tokio::test(start_paused = true)]
async fn v87_delay() {
    let start = Instant::now();
    let source = Source::new();
    let list = source
        .stream()
        .delay(ms(20))
        .map(move |x: u32| (x, start.elapsed()))
        .sink_to_list();
    for x in 0..5 {
        source.emit(x).await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::ZERO, "delay takes items at once");
    assert!(list.is_empty());
    sleep(ms(19)).await;
    assert!(list.is_empty());
    sleep(ms(21)).await; // 40 ms
    assert_eq!(
        list.snapshot(),
        (0..5).map(|x| (x, ms(20))).collect::<Vec<_>>()
    );
    sleep(ms(100)).await;
    assert_eq!(list.len(), 5);
}

#[tokio::test(start_paused = true)]
async fn each_item_is_held_for_its_own_delay_in_order() {
    let start = Instant::now();
    let source = Source::new();
    let list = source
        .stream()
        .delay(ms(30))
        .map(move |x: u32| (x, start.elapsed()))
        .sink_to_list();
    for (x, gap) in [(0, 10), (1, 1), (2, 50), (3, 0)] {
        source.emit(x).await.unwrap();
        sleep(ms(gap)).await;
    }
    // In at 0, 10, 11 and 61 ms.
    source.close();
    assert_eq!(
        list.await.unwrap(),
        vec![(0, ms(30)), (1, ms(40)), (2, ms(41)), (3, ms(91))]
    );
    assert_eq!(
        start.elapsed(),
        ms(91),
        "the stream ends once the last held item is out"
    );
}

#[tokio::test(start_paused = true)]
async fn zero_delay_passes_items_straight_through() {
    let source = Source::new();
    let list = source.stream().delay(Duration::ZERO).sink_to_list();
    let start = Instant::now();
    for x in 0..3 {
        source.emit(x).await.unwrap();
        assert_eq!(list.len(), x + 1);
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(list.snapshot(), vec![0, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn a_slow_consumer_gets_overdue_items_at_once() {
    let start = Instant::now();
    let out: Vec<(u32, Duration)> = futures::stream::iter(0..3)
        .delay(ms(10))
        .then(|x| async move {
            sleep(ms(25)).await;
            x
        })
        .map(|x| (x, start.elapsed()))
        .collect()
        .await;
    // All three are due at 10 ms; each then takes the consumer 25 ms.
    assert_eq!(out, vec![(0, ms(35)), (1, ms(60)), (2, ms(85))]);
}

#[tokio::test(start_paused = true)]
async fn size_hint_counts_held_items() {
    let mut delayed = std::pin::pin!(futures::stream::iter(0..4).delay(ms(10)));
    assert_eq!(futures::Stream::size_hint(&delayed), (4, Some(4)));
    assert_eq!(delayed.next().await, Some(0)); // takes all four, gives one
    assert_eq!(futures::Stream::size_hint(&delayed), (3, Some(3)));
}
