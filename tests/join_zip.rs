//! `zip_with`, `zip3`, `zip_all`: streamz's rows, the bound of 10 unmatched items per side, and
//! emitting into the sides in turn from one task without deadlock.

mod support;

use std::time::Duration;
use support::within;

use rivulet::prelude::*;
use tokio::time::{Instant, timeout};

/// V36 (test_zip), first half: `zip(a, b)`.
#[tokio::test(start_paused = true)]
async fn v36_zip() {
    let (a, b) = (Source::new(), Source::new());
    let list = a.stream().zip_with(b.stream()).sink_to_list();
    within(async {
        a.emit(1).await.unwrap();
        b.emit('a').await.unwrap();
        a.emit(2).await.unwrap();
        b.emit('b').await.unwrap();
    })
    .await;
    assert_eq!(list.snapshot(), vec![(1, 'a'), (2, 'b')]);
}

/// V36 (test_zip), second half: `a.zip(b, d)` is `zip3`.
#[tokio::test(start_paused = true)]
async fn v36_zip3() {
    let (a, b, d) = (Source::new(), Source::new(), Source::new());
    let list = rivulet::zip3(a.stream(), b.stream(), d.stream()).sink_to_list();
    within(async {
        a.emit(1).await.unwrap();
        b.emit(2).await.unwrap();
        d.emit(3).await.unwrap();
    })
    .await;
    assert_eq!(list.snapshot(), vec![(1, 2, 3)]);
}

/// V37 (test_zip_literals): `zip(a, 123, b)`, the literal being a stream that repeats it.
#[tokio::test(start_paused = true)]
async fn v37_zip_literals() {
    let (a, b) = (Source::new(), Source::new());
    let literal = futures::stream::repeat(123);
    let list = rivulet::zip3(a.stream(), literal, b.stream()).sink_to_list();
    within(async {
        a.emit(1).await.unwrap();
        b.emit(2).await.unwrap();
        a.emit(4).await.unwrap();
        b.emit(5).await.unwrap();
    })
    .await;
    assert_eq!(list.snapshot(), vec![(1, 123, 2), (4, 123, 5)]);
}

/// V38 (test_zip_same): `a.zip(a)` is two subscriptions of one source.
#[tokio::test(start_paused = true)]
async fn v38_zip_same() {
    let a = Source::new();
    let list = a.stream().zip_with(a.stream()).sink_to_list();
    within(async {
        a.emit(1).await.unwrap();
        a.emit(2).await.unwrap();
    })
    .await;
    assert_eq!(list.snapshot(), vec![(1, 1), (2, 2)]);
}

/// V89 (test_zip_timeout), with rivulet's bound of 10 instead of streamz's `maxsize=2`: ten
/// unmatched items on `a` are held with their emits complete; the 11th emit stays pending until
/// `b` emits, and then resolves.
#[tokio::test(start_paused = true)]
async fn v89_eleventh_unmatched_emit_waits_for_the_other_side() {
    let (a, b) = (Source::new(), Source::new());
    let list = a.stream().zip_with(b.stream()).sink_to_list();
    for x in 1..=10 {
        within(a.emit(x)).await.unwrap();
    }
    let eleventh = tokio::spawn({
        let a = a.clone();
        async move { a.emit(11).await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(
        !eleventh.is_finished(),
        "the 11th unmatched emit should wait"
    );
    assert!(list.snapshot().is_empty());
    within(b.emit('a')).await.unwrap();
    assert_eq!(within(eleventh).await.unwrap(), Ok(()));
    assert_eq!(list.snapshot(), vec![(1, 'a')]);
}

/// The bound is per side and holds for `zip3` and `zip_all` too.
#[tokio::test(start_paused = true)]
async fn zip3_and_zip_all_have_the_same_bound_per_side() {
    let (a, b, c) = (Source::new(), Source::new(), Source::new());
    let triples = rivulet::zip3(a.stream(), b.stream(), c.stream()).sink_to_list();
    let rows = rivulet::zip_all(vec![b.stream(), c.stream()]).sink_to_list();
    for x in 0..10 {
        within(b.emit(x)).await.unwrap();
    }
    let eleventh = tokio::spawn({
        let b = b.clone();
        async move { b.emit(10).await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(!eleventh.is_finished());
    within(c.emit(100)).await.unwrap();
    assert_eq!(rows.snapshot(), vec![vec![0, 100]]);
    // zip3 still waits for `a`, holding 10 of `b` (the 11th taken); so the emit is still pending.
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(!eleventh.is_finished());
    within(a.emit(-1)).await.unwrap();
    within(eleventh).await.unwrap().unwrap();
    assert_eq!(triples.snapshot(), vec![(-1, 0, 100)]);
}

/// The key rule of DESIGN §2: with rendezvous sources, emitting into the sides in turn from one
/// task (in bursts up to the bound) never deadlocks, and every pair comes out in order.
#[tokio::test(start_paused = true)]
async fn emitting_into_the_sides_in_turn_from_one_task_never_deadlocks() {
    let (a, b) = (Source::new(), Source::new());
    let list = a.stream().zip_with(b.stream()).sink_to_list();
    let mut want = Vec::new();
    let mut next_a = 0;
    let mut next_b = 0;
    for burst in [1, 1, 3, 2, 10, 1, 7, 9, 10, 10] {
        for _ in 0..burst {
            within(a.emit(next_a)).await.unwrap();
            next_a += 1;
        }
        for _ in 0..burst {
            within(b.emit(next_b * 10)).await.unwrap();
            want.push((next_b, next_b * 10));
            next_b += 1;
        }
        assert_eq!(list.snapshot(), want);
    }
    // Alternating single items, starting with either side.
    for i in 0..20 {
        within(b.emit(i)).await.unwrap();
        within(a.emit(i)).await.unwrap();
        want.push((i, i));
    }
    assert_eq!(list.snapshot(), want);
}

/// The same with `futures`' own `zip`: it holds one item of `a` and stops polling `a`, so the
/// first emit into `a` never returns (and `b` is never reached). This is what `zip_with` avoids.
#[tokio::test(start_paused = true)]
async fn futures_zip_deadlocks_where_zip_with_does_not() {
    let (a, b) = (Source::<i32>::new(), Source::<i32>::new());
    let _list = a.stream().zip(b.stream()).sink_to_list();
    let first = timeout(Duration::from_secs(5), a.emit(1)).await;
    assert!(
        first.is_err(),
        "futures' zip was expected to block the emit"
    );
}

/// Lock-step as in streamz: the emit that completes a pair returns once the pair was processed.
#[tokio::test(start_paused = true)]
async fn the_emit_that_completes_a_pair_waits_for_it_downstream() {
    let (a, b) = (Source::new(), Source::new());
    let list = a
        .stream()
        .zip_with(b.stream())
        .then(|pair: (i32, i32)| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            pair
        })
        .sink_to_list();
    let start = Instant::now();
    a.emit(1).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    b.emit(2).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!(list.snapshot(), vec![(1, 2)]);
}

/// It ends once a side has ended and its items are paired, dropping the other side's
/// subscription, so later emits there do not wait.
#[tokio::test(start_paused = true)]
async fn ends_when_a_side_has_ended_and_its_items_are_paired() {
    let (a, b) = (Source::new(), Source::new());
    let list = a.stream().zip_with(b.stream()).sink_to_list();
    within(async {
        a.emit(1).await.unwrap();
        a.emit(2).await.unwrap();
        a.close();
        b.emit('x').await.unwrap();
        assert_eq!(b.subscriber_count(), 1);
        b.emit('y').await.unwrap();
    })
    .await;
    assert_eq!(within(list).await.unwrap(), vec![(1, 'x'), (2, 'y')]);
    assert_eq!(b.subscriber_count(), 0);
    within(b.emit('z')).await.unwrap();
}

#[tokio::test]
async fn unmatched_items_of_the_longer_side_are_dropped_at_the_end() {
    let pairs: Vec<(i32, char)> = futures::stream::iter(1..=5)
        .zip_with(futures::stream::iter("ab".chars()))
        .collect()
        .await;
    assert_eq!(pairs, vec![(1, 'a'), (2, 'b')]);
}

#[tokio::test]
async fn zip_all_pairs_in_order_and_ends_with_its_shortest_input() {
    let streams = vec![
        futures::stream::iter(vec![1, 2, 3]).boxed(),
        futures::stream::iter(vec![10, 20]).boxed(),
        futures::stream::iter(vec![100, 200, 300]).boxed(),
    ];
    let rows: Vec<Vec<i32>> = rivulet::zip_all(streams).collect().await;
    assert_eq!(rows, vec![vec![1, 10, 100], vec![2, 20, 200]]);
}

#[tokio::test]
async fn zip_all_of_nothing_ends_at_once() {
    let none: Vec<futures::stream::Iter<std::vec::IntoIter<i32>>> = Vec::new();
    let mut rows = rivulet::zip_all(none);
    assert!(futures::stream::FusedStream::is_terminated(&rows));
    assert_eq!(rows.next().await, None);
}

#[tokio::test]
async fn zip_is_fused_once_it_ended() {
    let mut pairs = futures::stream::iter([1]).zip_with(futures::stream::iter([2, 3]));
    assert_eq!(pairs.next().await, Some((1, 2)));
    assert_eq!(pairs.next().await, None);
    assert!(futures::stream::FusedStream::is_terminated(&pairs));
    assert_eq!(pairs.next().await, None);
}

#[tokio::test(start_paused = true)]
async fn zip3_from_one_task_in_every_order() {
    let (a, b, c) = (Source::new(), Source::new(), Source::new());
    let list = rivulet::zip3(a.stream(), b.stream(), c.stream()).sink_to_list();
    within(async {
        for i in 0..6 {
            match i % 3 {
                0 => {
                    a.emit(i).await.unwrap();
                    b.emit(i).await.unwrap();
                    c.emit(i).await.unwrap();
                }
                1 => {
                    c.emit(i).await.unwrap();
                    c.emit(i + 100).await.unwrap();
                    b.emit(i).await.unwrap();
                    b.emit(i + 100).await.unwrap();
                    a.emit(i).await.unwrap();
                    a.emit(i + 100).await.unwrap();
                }
                _ => {
                    b.emit(i).await.unwrap();
                    a.emit(i).await.unwrap();
                    c.emit(i).await.unwrap();
                }
            }
        }
    })
    .await;
    let want: Vec<(i32, i32, i32)> = [0, 1, 101, 2, 3, 4, 104, 5]
        .iter()
        .map(|&i| (i, i, i))
        .collect();
    assert_eq!(list.snapshot(), want);
}
