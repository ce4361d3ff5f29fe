//! `timed_window` and `timed_window_unique` on tokio's paused clock (V83, V84, V85).
//!
//! Each test keeps its emits off the window boundaries (an emit at the very instant a window
//! closes could land on either side), so every expectation is exact.

use std::time::Duration;

use rivulet::ops::Keep;
use rivulet::prelude::*;
use tokio::time::{Instant, sleep};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// V83: every item lands in exactly one window, windows are short, and empty windows follow.
/// Adapted: the emits start 1 ms after the operator is made, so none falls on a boundary.
#[tokio::test(start_paused = true)]
async fn v83_timed_window() {
    let start = Instant::now();
    let source = Source::new();
    let list = source
        .stream()
        .timed_window(ms(10))
        .map(move |w: Vec<i32>| (w, start.elapsed()))
        .sink_to_list();
    sleep(ms(1)).await;
    for x in 0..10 {
        source.emit(x).await.unwrap(); // at 1, 5, 9, ... 37 ms
        assert_eq!(
            start.elapsed(),
            ms(1 + 4 * x as u64),
            "the window takes items at once"
        );
        sleep(ms(4)).await;
    }
    sleep(ms(10)).await; // 51 ms
    let expected = vec![
        (vec![0, 1, 2], ms(10)),
        (vec![3, 4], ms(20)),
        (vec![5, 6, 7], ms(30)),
        (vec![8, 9], ms(40)),
        (vec![], ms(50)),
    ];
    assert_eq!(list.snapshot(), expected);
    let windows: Vec<Vec<i32>> = list.snapshot().into_iter().map(|(w, _)| w).collect();
    assert_eq!(windows.concat(), (0..10).collect::<Vec<_>>());
    assert!(windows.iter().all(|w| w.len() <= 3));
    assert!(windows.iter().any(|w| w.len() >= 2));

    sleep(ms(100)).await; // 151 ms: ten more windows, all empty
    let later = list.snapshot();
    assert_eq!(later.len(), 15);
    assert_eq!(later[..5], expected[..]);
    for (k, (window, at)) in later[5..].iter().enumerate() {
        assert_eq!((window.as_slice(), *at), (&[][..], ms(60 + 10 * k as u64)));
    }
}

#[tokio::test(start_paused = true)]
async fn windows_are_aligned_to_creation_and_empty_ones_come_out() {
    let start = Instant::now();
    let source = Source::new();
    let list = source
        .stream()
        .timed_window(ms(100))
        .map(move |w: Vec<i32>| (w, start.elapsed()))
        .sink_to_list();
    sleep(ms(50)).await;
    source.emit(1).await.unwrap(); // t = 50: first window, closing at 100
    sleep(ms(100)).await;
    source.emit(2).await.unwrap(); // t = 150: second window, closing at 200
    sleep(ms(160)).await; // t = 310: the third window (200..300) closed empty
    assert_eq!(
        list.snapshot(),
        vec![(vec![1], ms(100)), (vec![2], ms(200)), (vec![], ms(300))]
    );
    source.close();
    // The upstream ended at 310: what came since 300 (nothing) is the last window, at once.
    assert_eq!(
        list.await.unwrap(),
        vec![
            (vec![1], ms(100)),
            (vec![2], ms(200)),
            (vec![], ms(300)),
            (vec![], ms(310))
        ]
    );
}

/// The grid starts when the operator is made, not when it is first polled. A window that closed
/// before anyone polled comes out at the first poll; the next closes on the grid.
#[tokio::test(start_paused = true)]
async fn the_grid_starts_at_creation() {
    let start = Instant::now();
    let source = Source::new();
    let windows = source.stream().timed_window(ms(10));
    sleep(ms(35)).await;
    let list = windows
        .map(move |w: Vec<i32>| (w, start.elapsed()))
        .sink_to_list();
    tokio::task::yield_now().await; // the sink's first poll, at 35
    source.emit(1).await.unwrap();
    sleep(ms(10)).await; // 45
    assert_eq!(
        list.snapshot(),
        vec![(vec![], ms(35)), (vec![1], ms(40))],
        "the windows due at 20 and 30 are skipped: nobody polled then"
    );
}

#[tokio::test(start_paused = true)]
async fn a_last_window_when_the_upstream_ends() {
    let source = Source::new();
    let list = source.stream().timed_window(ms(100)).sink_to_list();
    source.emit(7).await.unwrap();
    source.emit(8).await.unwrap();
    source.close();
    let start = Instant::now();
    assert_eq!(list.await.unwrap(), vec![vec![7, 8]]);
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "the last window does not wait for its interval"
    );
}

/// V84: a slow consumer holds the window back, and the window holds the emitter back.
///
/// streamz asserts only `elapsed > 0.2 s`. Here, exactly: the consumer (a queue of 1 read every
/// 100 ms) takes `[0]` at 10 ms and queues `[1]` at 20 ms; the window of 30 ms then waits for
/// room until 110 ms, so it is not polled and the emit at 35 ms waits too. At 110 ms the window
/// takes that item at once (its emit returns), closes overdue, and skips to the grid point 120;
/// the same happens at 210 ms for the emit of 120 ms. The emits start 5 ms in, off the grid.
#[tokio::test(start_paused = true)]
async fn v84_timed_window_backpressure() {
    let start = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<i32>>(1);
    let received = tokio::spawn(async move {
        let mut received = Vec::new();
        while let Some(window) = rx.recv().await {
            received.push((window, start.elapsed()));
            sleep(ms(100)).await;
        }
        received
    });
    let source = Source::new();
    let done = source
        .stream()
        .timed_window(ms(10))
        .then(move |window| {
            let tx = tx.clone();
            async move { tx.send(window).await.unwrap() }
        })
        .sink(drop);
    sleep(ms(5)).await;
    let mut returned = Vec::new();
    // A window that starved its upstream would hold the emitter for ever; fail instead.
    tokio::time::timeout(ms(10_000), async {
        for x in 0..5 {
            source.emit(x).await.unwrap();
            returned.push(start.elapsed());
            sleep(ms(10)).await;
        }
    })
    .await
    .expect("the emitter was starved");
    assert_eq!(returned, vec![ms(5), ms(15), ms(25), ms(110), ms(210)]);
    assert_eq!(start.elapsed(), ms(220));

    source.close();
    done.await.unwrap();
    let received = received.await.unwrap();
    assert_eq!(
        received,
        vec![
            (vec![0], ms(10)),
            (vec![1], ms(110)),
            (vec![2], ms(210)),
            (vec![3], ms(310)),
            (vec![4], ms(410)),
            // The window open at the close (220..) comes out last, empty.
            (vec![], ms(510)),
        ]
    );
}

/// Emits every item right after the operator is made, then reads the list just after the first
/// window (50 ms) and just after the second.
async fn unique_windows<T, K>(
    items: Vec<T>,
    key: impl FnMut(&T) -> K + Send + 'static,
    keep: Keep,
) -> Vec<Vec<T>>
where
    T: Clone + Send + 'static,
    K: std::hash::Hash + Eq + Send + 'static,
{
    let source = Source::new();
    let list = source
        .stream()
        .timed_window_unique(ms(50), key, keep)
        .sink_to_list();
    for x in items {
        source.emit(x).await.unwrap();
    }
    sleep(ms(60)).await;
    let first = list.snapshot();
    assert_eq!(first.len(), 1, "everything lands in the first window");
    sleep(ms(50)).await;
    // After another interval the window that closed is empty (streamz: `L[-1] == ()`).
    let second = list.snapshot();
    assert_eq!(second.len(), 2);
    assert!(second[1].is_empty());
    first
}

/// V85, all five rows (adapted: read at 60 ms rather than exactly 50, off the boundary).
#[tokio::test(start_paused = true)]
async fn v85_timed_window_unique() {
    let ids = vec![1, 2, 1, 3, 1, 3, 3, 2];
    assert_eq!(
        unique_windows(ids.clone(), |x| *x, Keep::First).await,
        vec![vec![1, 2, 3]]
    );
    assert_eq!(
        unique_windows(ids, |x| *x, Keep::Last).await,
        vec![vec![1, 3, 2]]
    );
    let words = vec!["f", "fo", "f", "foo", "f", "foo", "foo", "fo"];
    assert_eq!(
        unique_windows(words, |w: &&str| w.len(), Keep::Last).await,
        vec![vec!["f", "foo", "fo"]]
    );
    let records = vec![(0, "bar"), (1, "bat"), (0, "baz")];
    assert_eq!(
        unique_windows(records.clone(), |r: &(i32, &str)| r.0, Keep::First).await,
        vec![vec![(0, "bar"), (1, "bat")]]
    );
    assert_eq!(
        unique_windows(records, |r: &(i32, &str)| r.0, Keep::Last).await,
        vec![vec![(1, "bat"), (0, "baz")]]
    );
}

/// Keys are unique per window, not for ever: a key seen in one window starts afresh in the next.
#[tokio::test(start_paused = true)]
async fn unique_windows_start_afresh() {
    let source = Source::new();
    let list = source
        .stream()
        .timed_window_unique(ms(10), |x: &(char, i32)| x.0, Keep::Last)
        .sink_to_list();
    sleep(ms(1)).await;
    for x in [('a', 1), ('b', 2), ('a', 3)] {
        source.emit(x).await.unwrap();
    }
    sleep(ms(10)).await;
    for x in [('a', 4), ('a', 5)] {
        source.emit(x).await.unwrap();
    }
    source.close();
    assert_eq!(
        list.await.unwrap(),
        vec![vec![('b', 2), ('a', 3)], vec![('a', 5)]]
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_key_names_the_operator() {
    let source = Source::new();
    let list = source
        .stream()
        .timed_window_unique(ms(10), |x: &i32| 10 / *x, Keep::First)
        .sink_to_list();
    source.emit(0).await.unwrap();
    let err = list.await.unwrap_err();
    assert!(
        err.to_string()
            .contains("`timed_window_unique` closure panicked: attempt to divide by zero"),
        "{err}"
    );
}

#[test]
#[should_panic(expected = "timed_window: `dur` must be at least 1ns")]
fn zero_window_is_refused() {
    let _ = futures::stream::empty::<i32>().timed_window(Duration::ZERO);
}

#[test]
#[should_panic(expected = "timed_window_unique: `dur` must be at least 1ns")]
fn zero_unique_window_is_refused() {
    let _ =
        futures::stream::empty::<i32>().timed_window_unique(Duration::ZERO, |x| *x, Keep::First);
}
