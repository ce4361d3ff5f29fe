//! `union` (method and free function): streamz's row, fairness, ends, and emitting into the
//! inputs from one task without deadlock.

mod support;

use std::time::Duration;
use support::within;

use futures::stream::{BoxStream, FusedStream};
use rivulet::prelude::*;
use tokio::time::Instant;

/// V13 (test_union): `a.union(b, c)`, checked after each emit.
#[tokio::test(start_paused = true)]
async fn v13_union() {
    let (a, b, c) = (Source::new(), Source::new(), Source::new());
    let list = rivulet::union([a.stream(), b.stream(), c.stream()]).sink_to_list();
    within(a.emit(1)).await.unwrap();
    assert_eq!(list.snapshot(), vec![1]);
    within(b.emit(2)).await.unwrap();
    assert_eq!(list.snapshot(), vec![1, 2]);
    within(a.emit(3)).await.unwrap();
    assert_eq!(list.snapshot(), vec![1, 2, 3]);
    within(c.emit(4)).await.unwrap();
    assert_eq!(list.snapshot(), vec![1, 2, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn method_union_from_one_task_in_any_order() {
    let (a, b) = (Source::new(), Source::new());
    let list = a.stream().union(b.stream()).sink_to_list();
    let order = [0, 0, 1, 0, 1, 1, 1, 0, 1, 0];
    for (i, &side) in order.iter().enumerate() {
        let source = if side == 0 { &a } else { &b };
        within(source.emit(i)).await.unwrap();
        assert_eq!(list.snapshot(), (0..=i).collect::<Vec<_>>());
    }
}

/// Each emit returns once its item has been processed downstream, as with a single source.
#[tokio::test(start_paused = true)]
async fn emit_waits_for_the_item_downstream() {
    let (a, b) = (Source::new(), Source::new());
    let list = a
        .stream()
        .union(b.stream())
        .then(|x: u32| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            x
        })
        .sink_to_list();
    let start = Instant::now();
    a.emit(1).await.unwrap();
    b.emit(2).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    assert_eq!(list.snapshot(), vec![1, 2]);
}

/// An input that is always ready does not starve the other: they take turns.
#[tokio::test]
async fn an_always_ready_input_does_not_starve_the_other() {
    let taken: Vec<i32> = futures::stream::repeat(1)
        .union(futures::stream::iter([2, 2, 2]))
        .take(7)
        .collect()
        .await;
    assert_eq!(taken, vec![1, 2, 1, 2, 1, 2, 1]);

    let inputs: Vec<BoxStream<'static, i32>> = vec![
        futures::stream::repeat(1).boxed(),
        futures::stream::repeat(2).boxed(),
        futures::stream::iter([3, 3]).boxed(),
    ];
    let taken: Vec<i32> = rivulet::union(inputs).take(8).collect().await;
    assert_eq!(taken, vec![1, 2, 3, 1, 2, 3, 1, 2]);
}

#[tokio::test]
async fn ends_when_every_input_has_ended() {
    let mut both = futures::stream::iter([1, 2, 3]).union(futures::stream::iter([10]));
    let mut got = Vec::new();
    while let Some(x) = both.next().await {
        got.push(x);
    }
    assert_eq!(got, vec![1, 10, 2, 3]);
    assert!(both.is_terminated());

    let inputs = vec![
        futures::stream::iter(vec![1, 2]),
        futures::stream::iter(vec![]),
        futures::stream::iter(vec![3]),
    ];
    let mut got: Vec<i32> = rivulet::union(inputs).collect().await;
    got.sort();
    assert_eq!(got, vec![1, 2, 3]);
}

#[tokio::test]
async fn union_of_nothing_ends_at_once() {
    let mut none = rivulet::union(Vec::<futures::stream::Empty<u8>>::new());
    assert!(none.is_terminated());
    assert_eq!(none.next().await, None);
}

/// An input that ended is dropped; the others go on, and the union ends with the last one.
#[tokio::test(start_paused = true)]
async fn keeps_going_after_one_input_ends() {
    let (a, b) = (Source::new(), Source::new());
    let list = rivulet::union([a.stream(), b.stream()]).sink_to_list();
    within(a.emit(1)).await.unwrap();
    a.close();
    within(b.emit(2)).await.unwrap();
    within(b.emit(3)).await.unwrap();
    assert_eq!(list.snapshot(), vec![1, 2, 3]);
    b.close();
    assert_eq!(within(list).await.unwrap(), vec![1, 2, 3]);
}

/// The `_all` form: a `Vec` of boxed streams of different types.
#[tokio::test(start_paused = true)]
async fn a_vec_of_boxed_streams_of_different_types() {
    let (a, b) = (Source::new(), Source::new());
    let inputs: Vec<BoxStream<'static, String>> = vec![
        a.stream().map(|x: i32| format!("a{x}")).boxed(),
        b.stream().map(|c: char| format!("b{c}")).boxed(),
    ];
    let list = rivulet::union(inputs).sink_to_list();
    within(a.emit(1)).await.unwrap();
    within(b.emit('x')).await.unwrap();
    within(a.emit(2)).await.unwrap();
    assert_eq!(list.snapshot(), vec!["a1", "bx", "a2"]);
}

/// A slow input: ready on every `every`-th poll (it wakes itself otherwise), for `left` items.
struct EveryNthPoll {
    id: usize,
    every: usize,
    polls: usize,
    left: usize,
}

impl futures::Stream for EveryNthPoll {
    type Item = usize;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<usize>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        self.polls += 1;
        if self.polls % self.every == 0 {
            self.left -= 1;
            std::task::Poll::Ready(Some(self.id))
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// Issue 13, item 4: one endless, always-ready input and nine slow ones. Round-robin polling
/// gets every slow item out among the first few hundred; an input polled first every time would
/// keep them all waiting forever (tokio #2319).
#[tokio::test]
async fn one_endless_fast_input_does_not_starve_nine_slow_ones() {
    let mut inputs: Vec<BoxStream<'static, usize>> = vec![futures::stream::repeat(0).boxed()];
    for id in 1..=9 {
        inputs.push(
            EveryNthPoll {
                id,
                every: 3,
                polls: 0,
                left: 5,
            }
            .boxed(),
        );
    }
    let first: Vec<usize> = within(rivulet::union(inputs).take(300).collect()).await;
    for id in 1..=9 {
        let got = first.iter().filter(|&&x| x == id).count();
        assert_eq!(
            got, 5,
            "slow input {id} gave {got} of its 5 items in the first 300"
        );
    }
    // The fast input still gets its turns: at least every other item is its.
    assert!(first.iter().filter(|&&x| x == 0).count() >= 150);
    // A slow input is never passed over for long: its items are at most 60 apart.
    for id in 1..=9 {
        let at: Vec<usize> = (0..first.len()).filter(|&i| first[i] == id).collect();
        assert!(
            at[0] < 60 && at.windows(2).all(|w| w[1] - w[0] <= 60),
            "{id}: {at:?}"
        );
    }
}
