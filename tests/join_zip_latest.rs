//! `zip_latest`: streamz's row (against `combine_latest_on`), losslessness, lock-step emits and
//! ends.

mod support;

use std::time::Duration;
use support::within;

use futures::stream::FusedStream;
use rivulet::ops::EmitOn;
use rivulet::prelude::*;
use tokio::time::Instant;

/// V43 (test_zip_latest): `a.zip_latest(b)` against `a.combine_latest(b, emit_on=a)`.
#[tokio::test(start_paused = true)]
async fn v43_zip_latest_against_combine_latest_on_left() {
    let (a, b) = (Source::new(), Source::new());
    let zipped = a.stream().zip_latest(b.stream()).sink_to_list();
    let combined = a
        .stream()
        .combine_latest_on(b.stream(), EmitOn::Left)
        .sink_to_list();
    within(async {
        a.emit(1).await.unwrap();
        a.emit(2).await.unwrap();
        b.emit('a').await.unwrap();
        b.emit('b').await.unwrap();
        a.emit(3).await.unwrap();
    })
    .await;
    assert_eq!(zipped.snapshot(), vec![(1, 'a'), (2, 'a'), (3, 'b')]);
    assert_eq!(combined.snapshot(), vec![(3, 'b')]);
}

/// Any number of left items wait for the right side's first item (the buffer is unbounded
/// until then), so emitting them from one task never waits on the right side.
#[tokio::test(start_paused = true)]
async fn many_left_items_wait_for_the_first_right_item_without_deadlock() {
    let (a, b) = (Source::new(), Source::new());
    let list = a.stream().zip_latest(b.stream()).sink_to_list();
    for x in 0..50 {
        within(a.emit(x)).await.unwrap();
    }
    assert!(list.is_empty());
    within(b.emit('r')).await.unwrap();
    let want: Vec<(i32, char)> = (0..50).map(|x| (x, 'r')).collect();
    assert_eq!(list.snapshot(), want);
    within(a.emit(50)).await.unwrap();
    assert_eq!(list.snapshot().last(), Some(&(50, 'r')));
}

/// The right emit that releases the waiting items returns once they have all been processed;
/// later left emits each wait for their own pair; right emits after that return at once.
#[tokio::test(start_paused = true)]
async fn emits_wait_for_the_pairs_they_release() {
    let (a, b) = (Source::new(), Source::new());
    let list = a
        .stream()
        .zip_latest(b.stream())
        .then(|pair: (i32, i32)| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            pair
        })
        .sink_to_list();
    let start = Instant::now();
    a.emit(1).await.unwrap();
    a.emit(2).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    b.emit(10).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    b.emit(20).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    a.emit(3).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    assert_eq!(list.snapshot(), vec![(1, 10), (2, 10), (3, 20)]);
}

/// It ends once the left side has ended and all its items are out; a right side that ended
/// keeps its last item for them.
#[tokio::test(start_paused = true)]
async fn ends_with_the_left_side() {
    let (a, b) = (Source::new(), Source::new());
    let list = a.stream().zip_latest(b.stream()).sink_to_list();
    within(async {
        b.emit('x').await.unwrap();
        b.close();
        a.emit(1).await.unwrap();
        a.emit(2).await.unwrap();
        a.close();
    })
    .await;
    assert_eq!(within(list).await.unwrap(), vec![(1, 'x'), (2, 'x')]);

    let (a, b) = (Source::new(), Source::new());
    let list = a.stream().zip_latest(b.stream()).sink_to_list();
    within(async {
        a.emit(1).await.unwrap();
        a.emit(2).await.unwrap();
        a.close();
        assert!(list.is_empty());
        b.emit('y').await.unwrap();
    })
    .await;
    assert_eq!(within(list).await.unwrap(), vec![(1, 'y'), (2, 'y')]);
    // The right subscription was dropped with the rest.
    assert_eq!(b.subscriber_count(), 0);
}

/// A right side that ends without ever giving an item means nothing can come out: it ends, and
/// the left subscription is dropped so no emit waits on it.
#[tokio::test(start_paused = true)]
async fn ends_when_the_right_side_ends_empty() {
    let (a, b) = (Source::<i32>::new(), Source::<char>::new());
    let list = a.stream().zip_latest(b.stream()).sink_to_list();
    within(a.emit(1)).await.unwrap();
    b.close();
    assert_eq!(within(list).await.unwrap(), vec![]);
    assert_eq!(a.subscriber_count(), 0);
}

#[tokio::test]
async fn is_fused_once_it_ended() {
    let mut pairs = futures::stream::iter([1, 2]).zip_latest(futures::stream::iter(['a']));
    assert!(!pairs.is_terminated());
    let mut got = Vec::new();
    while let Some(pair) = pairs.next().await {
        got.push(pair);
    }
    assert_eq!(got, vec![(1, 'a'), (2, 'a')]);
    assert!(pairs.is_terminated());
    assert_eq!(pairs.next().await, None);
}

/// An always-ready right side does not keep the task from taking left items.
#[tokio::test(start_paused = true)]
async fn an_always_ready_right_side_does_not_hang_the_task() {
    let a = Source::new();
    let mut n = 0;
    let counter = futures::stream::repeat_with(move || {
        n += 1;
        n
    });
    let list = a.stream().zip_latest(counter).sink_to_list();
    for x in 0..3 {
        within(a.emit(x)).await.unwrap();
    }
    let got = list.snapshot();
    assert_eq!(got.iter().map(|p| p.0).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert!(got.windows(2).all(|w| w[0].1 < w[1].1), "{got:?}");
    list.abort();
}
