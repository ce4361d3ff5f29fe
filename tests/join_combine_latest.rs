//! `combine_latest`, `combine_latest_on`, `combine_latest3`, `combine_latest_all`: streamz's rows,
//! lock-step emits, ends, and emitting into the inputs from one task without deadlock.

mod support;

use std::time::Duration;
use support::within;

use futures::stream::FusedStream;
use rivulet::ops::EmitOn;
use rivulet::prelude::*;
use tokio::time::Instant;

/// V40 (test_combine_latest): `a.combine_latest(b)` and `emit_on=[a, b]` give the same.
#[tokio::test(start_paused = true)]
async fn v40_combine_latest() {
    let (a, b) = (Source::new(), Source::new());
    let plain = a.stream().combine_latest(b.stream()).sink_to_list();
    let both = a
        .stream()
        .combine_latest_on(b.stream(), EmitOn::Both)
        .sink_to_list();
    within(async {
        a.emit(1).await.unwrap();
        a.emit(2).await.unwrap();
        b.emit('a').await.unwrap();
        a.emit(3).await.unwrap();
        b.emit('b').await.unwrap();
    })
    .await;
    let want = vec![(2, 'a'), (3, 'a'), (3, 'b')];
    assert_eq!(plain.snapshot(), want);
    assert_eq!(both.snapshot(), want);
}

/// V41 (test_combine_latest_emit_on, and `_emit_on_stream` with `emit_on=0`): emit on `a` only.
#[tokio::test(start_paused = true)]
async fn v41_combine_latest_emit_on_left() {
    let (a, b) = (Source::new(), Source::new());
    let list = a
        .stream()
        .combine_latest_on(b.stream(), EmitOn::Left)
        .sink_to_list();
    within(async {
        a.emit(1).await.unwrap();
        b.emit('a').await.unwrap();
        a.emit(2).await.unwrap();
        a.emit(3).await.unwrap();
        b.emit('b').await.unwrap();
        a.emit(4).await.unwrap();
    })
    .await;
    assert_eq!(list.snapshot(), vec![(2, 'a'), (3, 'a'), (4, 'b')]);
}

/// V41 mirrored: emitting on the right side only.
#[tokio::test(start_paused = true)]
async fn v41_combine_latest_emit_on_right() {
    let (a, b) = (Source::new(), Source::new());
    let list = b
        .stream()
        .combine_latest_on(a.stream(), EmitOn::Right)
        .sink_to_list();
    within(async {
        a.emit(1).await.unwrap();
        b.emit('a').await.unwrap();
        a.emit(2).await.unwrap();
        a.emit(3).await.unwrap();
        b.emit('b').await.unwrap();
        a.emit(4).await.unwrap();
    })
    .await;
    assert_eq!(list.snapshot(), vec![('a', 2), ('a', 3), ('b', 4)]);
}

/// An emit that makes an output returns once it has been processed downstream; one that only
/// updates a latest value returns at once.
#[tokio::test(start_paused = true)]
async fn emits_wait_only_for_the_outputs_they_make() {
    let (a, b) = (Source::new(), Source::new());
    let list = a
        .stream()
        .combine_latest_on(b.stream(), EmitOn::Left)
        .then(|pair: (i32, i32)| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            pair
        })
        .sink_to_list();
    let start = Instant::now();
    a.emit(1).await.unwrap();
    b.emit(10).await.unwrap();
    b.emit(20).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    a.emit(2).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!(list.snapshot(), vec![(2, 20)]);
}

/// DESIGN §2: emitting into the inputs in any order from one task never deadlocks.
#[tokio::test(start_paused = true)]
async fn emitting_into_the_inputs_from_one_task_never_deadlocks() {
    let (a, b) = (Source::new(), Source::new());
    let list = a.stream().combine_latest(b.stream()).sink_to_list();
    let order = [0, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 1];
    let (mut last_a, mut last_b) = (None, None);
    let mut want = Vec::new();
    for (i, &side) in order.iter().enumerate() {
        if side == 0 {
            within(a.emit(i)).await.unwrap();
            last_a = Some(i);
        } else {
            within(b.emit(i)).await.unwrap();
            last_b = Some(i);
        }
        if let (Some(x), Some(y)) = (last_a, last_b) {
            want.push((x, y));
        }
        assert_eq!(list.snapshot(), want);
    }
}

/// It ends when both inputs have ended; one that ends keeps its last item for later outputs.
#[tokio::test(start_paused = true)]
async fn ends_when_both_inputs_have_ended() {
    let (a, b) = (Source::new(), Source::new());
    let list = a.stream().combine_latest(b.stream()).sink_to_list();
    within(async {
        a.emit(1).await.unwrap();
        a.close();
        b.emit('x').await.unwrap();
        b.emit('y').await.unwrap();
    })
    .await;
    assert_eq!(list.snapshot(), vec![(1, 'x'), (1, 'y')]);
    b.close();
    assert_eq!(within(list).await.unwrap(), vec![(1, 'x'), (1, 'y')]);

    let mut done = futures::stream::iter([1]).combine_latest(futures::stream::iter(['a']));
    assert_eq!(done.next().await, Some((1, 'a')));
    assert_eq!(done.next().await, None);
    assert!(done.is_terminated());
}

/// An always-ready input whose items make no output does not keep the task from the rest:
/// the operator yields after a while, so the other side's emit still gets through.
#[tokio::test(start_paused = true)]
async fn an_always_ready_silent_side_does_not_hang_the_task() {
    let a = Source::new();
    let list = a
        .stream()
        .combine_latest_on(futures::stream::repeat(7), EmitOn::Left)
        .sink_to_list();
    for x in 1..=3 {
        within(a.emit(x)).await.unwrap();
    }
    // Whether 1 comes out depends on which side was polled first (7 may come after 1).
    let got = list.snapshot();
    assert!(
        got == [(2, 7), (3, 7)] || got == [(1, 7), (2, 7), (3, 7)],
        "{got:?}"
    );
    list.abort();
}

#[tokio::test(start_paused = true)]
async fn combine_latest3_on_every_item_once_all_have_one() {
    let (a, b, c) = (Source::new(), Source::new(), Source::new());
    let list = rivulet::combine_latest3(a.stream(), b.stream(), c.stream()).sink_to_list();
    within(async {
        a.emit(1).await.unwrap();
        b.emit('x').await.unwrap();
        a.emit(2).await.unwrap();
        c.emit("one").await.unwrap();
        b.emit('y').await.unwrap();
        c.emit("two").await.unwrap();
    })
    .await;
    assert_eq!(
        list.snapshot(),
        vec![(2, 'x', "one"), (2, 'y', "one"), (2, 'y', "two")]
    );
}

#[tokio::test(start_paused = true)]
async fn combine_latest_all_on_every_item_once_all_have_one() {
    let sources: Vec<Source<i32>> = (0..4).map(|_| Source::new()).collect();
    let list = rivulet::combine_latest_all(sources.iter().map(Source::stream)).sink_to_list();
    within(async {
        for (i, source) in sources.iter().enumerate() {
            source.emit(i as i32).await.unwrap();
        }
        sources[2].emit(20).await.unwrap();
        sources[0].emit(-1).await.unwrap();
    })
    .await;
    assert_eq!(
        list.snapshot(),
        vec![vec![0, 1, 2, 3], vec![0, 1, 20, 3], vec![-1, 1, 20, 3]]
    );
    for source in &sources {
        source.close();
    }
    assert_eq!(within(list).await.unwrap().len(), 3);
}

#[tokio::test]
async fn combine_latest_all_of_nothing_ends_at_once() {
    let mut none = rivulet::combine_latest_all(Vec::<futures::stream::Empty<u8>>::new());
    assert!(none.is_terminated());
    assert_eq!(none.next().await, None);
}
