//! Acknowledgements through the local operators: an `Acked<T>` is done when the last thing that
//! holds it (an operator's state, a batch, a branch, the sink) drops it. The cases follow
//! streamz's RefCounter and checkpoint vectors (V76, V78–V81 in streamz-vectors.md).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rivulet::ack::Tracker;
use rivulet::prelude::*;
use rivulet::{Ack, Acked};
use support::within;

/// Counts how many of the acks it made are done.
#[derive(Clone, Default)]
struct Done(Arc<AtomicUsize>);

impl Done {
    fn ack(&self) -> Ack {
        let count = Arc::clone(&self.0);
        Ack::new(move || {
            count.fetch_add(1, Ordering::SeqCst);
        })
    }
    fn item<T>(&self, value: T) -> Acked<T> {
        Acked::new(value, self.ack())
    }
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[test]
fn ack_is_done_once_when_the_last_clone_drops() {
    let done = Done::default();
    let ack = done.ack();
    let clones: Vec<Ack> = (0..5).map(|_| ack.clone()).collect();
    drop(ack);
    assert_eq!(done.count(), 0);
    drop(clones);
    assert_eq!(done.count(), 1);
}

#[test]
fn acked_clone_shares_the_ack_and_map_keeps_it() {
    let done = Done::default();
    let item = done.item(3);
    let copy = item.clone();
    let mapped = item.map(|x| x.to_string());
    assert_eq!(&*mapped, "3");
    drop(copy);
    assert_eq!(done.count(), 0);
    let (value, ack) = mapped.into_parts();
    assert_eq!(value, "3");
    assert_eq!(done.count(), 0);
    drop(ack);
    assert_eq!(done.count(), 1);
}

/// V79: map → sink: done once the sink has taken the item.
#[tokio::test(flavor = "current_thread")]
async fn map_then_sink_is_done_after_the_sink() {
    let done = Done::default();
    let source = Source::new();
    let handle = source
        .stream()
        .map(|item: Acked<i32>| item.map(|x| x + 1))
        .sink(|item| assert!(item.value > 0));
    within(source.emit(done.item(1))).await.unwrap();
    assert_eq!(done.count(), 1);
    source.close();
    within(handle).await.unwrap();
}

/// V79: filter(False): a dropped item is done at once.
#[tokio::test(flavor = "current_thread")]
async fn retain_drops_are_done() {
    let done = Done::default();
    let source = Source::new();
    let kept = source
        .stream()
        .retain(|item: &Acked<i32>| item.value % 2 == 0)
        .sink_to_list();
    within(source.emit(done.item(1))).await.unwrap();
    assert_eq!(done.count(), 1, "the dropped item is done");
    within(source.emit(done.item(2))).await.unwrap();
    assert_eq!(done.count(), 1, "the kept item is held by the list");
    source.close();
    let list = within(kept).await.unwrap();
    drop(list);
    assert_eq!(done.count(), 2);
}

/// V79: two sinks: done when both branches are done, with subscribers and with `share`.
#[tokio::test(flavor = "current_thread")]
async fn branches_are_done_when_every_branch_is() {
    let done = Done::default();
    let source = Source::new();
    let left = source.stream().sink_to_list();
    let right = source.stream().sink(drop);
    within(source.emit(done.item(1))).await.unwrap();
    assert_eq!(done.count(), 0, "the left list still holds a clone");
    source.close();
    within(right).await.unwrap();
    drop(within(left).await.unwrap());
    assert_eq!(done.count(), 1);

    let done = Done::default();
    let source = Source::new();
    let shared = source.stream().share();
    let held = shared.clone().sink_to_list();
    let dropped = shared.sink(drop);
    within(source.emit(done.item(1))).await.unwrap();
    assert_eq!(done.count(), 0);
    source.close();
    within(dropped).await.unwrap();
    drop(within(held).await.unwrap());
    assert_eq!(done.count(), 1);
}

/// V79's no-downstream case differs on purpose: streamz never releases an item nobody takes; in
/// rivulet it is dropped, so it is done (nothing downstream can still need it).
#[tokio::test(flavor = "current_thread")]
async fn an_item_nobody_takes_is_done() {
    let done = Done::default();
    let source = Source::<Acked<i32>>::new();
    within(source.emit(done.item(1))).await.unwrap();
    assert_eq!(done.count(), 1);
}

/// V79: partition(2): both items are done when the second arrives (and the batch is consumed).
#[tokio::test(flavor = "current_thread")]
async fn partition_items_are_done_with_their_batch() {
    let done = Done::default();
    let source = Source::new();
    let handle = source.stream().partition(2).sink(drop::<Vec<Acked<i32>>>);
    within(source.emit(done.item(1))).await.unwrap();
    assert_eq!(done.count(), 0);
    within(source.emit(done.item(2))).await.unwrap();
    assert_eq!(done.count(), 2);
    source.close();
    within(handle).await.unwrap();
}

/// V78/V79: buffer: held items are not done until the sink has processed them.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn buffer_items_are_done_after_the_sink() {
    let done = Done::default();
    let source = Source::new();
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let handle = source
        .stream()
        .buffer(5)
        .then(move |item: Acked<i32>| {
            let mut release = release_rx.clone();
            async move {
                // The sink holds each item until released.
                let _ = release.wait_for(|go| *go).await;
                drop(item);
            }
        })
        .sink(drop);
    for x in 0..5 {
        within(source.emit(done.item(x))).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(done.count(), 0, "buffered and in-sink items are held");
    release_tx.send_replace(true);
    source.close();
    within(handle).await.unwrap();
    assert_eq!(done.count(), 5);
}

/// V76: timed_window(0.01): item 1 is done once its window has gone by, item 2 is still held.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn timed_window_items_are_done_with_their_window() {
    let first = Done::default();
    let second = Done::default();
    let source = Source::new();
    let handle = source
        .stream()
        .timed_window(Duration::from_millis(10))
        .sink(drop::<Vec<Acked<i32>>>);
    within(source.emit(first.item(1))).await.unwrap();
    assert_eq!(first.count(), 0);
    // 55 ms, not 50: on the paused clock 50 ms is exactly a window's end, where item 2 would
    // land in the window closing at that instant.
    tokio::time::sleep(Duration::from_millis(55)).await;
    within(source.emit(second.item(2))).await.unwrap();
    assert_eq!(first.count(), 1);
    assert_eq!(second.count(), 0);
    source.close();
    within(handle).await.unwrap();
    assert_eq!(second.count(), 1);
}

/// V81: partition(2).sliding_window(2, false): nothing is committed until a window is emitted,
/// and the window's older batch stays held by the operator until the next window replaces it.
#[tokio::test(flavor = "current_thread")]
async fn partition_then_sliding_window_commits_behind_the_window() {
    let offsets = Tracker::new();
    let source = Source::new();
    let windows = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&windows);
    let handle = source.stream().partition(2).sliding_window(2, false).sink(
        move |_window: Vec<Vec<Acked<u64>>>| {
            seen.fetch_add(1, Ordering::SeqCst);
        },
    );
    // Kafka-style: an item at offset o commits o + 1, the next offset to read.
    let emit = |o: u64| source.emit(offsets.acked(o, o + 1));
    for o in 0..3 {
        within(emit(o)).await.unwrap();
        assert_eq!(offsets.committed(), None, "no window yet");
    }
    within(emit(3)).await.unwrap();
    assert_eq!(windows.load(Ordering::SeqCst), 1);
    assert_eq!(
        offsets.committed(),
        None,
        "both batches are still in the window"
    );
    within(emit(4)).await.unwrap();
    assert_eq!(offsets.committed(), None);
    within(emit(5)).await.unwrap();
    assert_eq!(windows.load(Ordering::SeqCst), 2);
    assert_eq!(offsets.committed(), Some(2), "batch [0, 1] left the window");
    // A restart resumes from offset 2: the items still in the window are replayed, none lost.
    source.close();
    within(handle).await.unwrap();
    assert_eq!(offsets.committed(), Some(6));
}

/// V80: T1:v0, T2:v1, T1:v2, T2:v3 into zip_latest, zip and combine_latest; the commits are
/// streamz's: zip_latest (T1=2, T2=1), zip (T1=2, T2=2), combine_latest (T1=1, T2=1).
#[tokio::test(flavor = "current_thread")]
async fn joins_commit_what_streamz_commits() {
    async fn run<F, S>(join: F) -> (Option<u64>, Option<u64>)
    where
        F: FnOnce(Subscription<Acked<&'static str>>, Subscription<Acked<&'static str>>) -> S,
        S: futures::Stream + Send + 'static,
    {
        let (t1, t2) = (Tracker::new(), Tracker::new());
        let (s1, s2) = (Source::new(), Source::new());
        let handle = join(s1.stream(), s2.stream()).sink(drop);
        within(s1.emit(t1.acked("v0", 1))).await.unwrap();
        within(s2.emit(t2.acked("v1", 1))).await.unwrap();
        within(s1.emit(t1.acked("v2", 2))).await.unwrap();
        within(s2.emit(t2.acked("v3", 2))).await.unwrap();
        let commits = (t1.committed(), t2.committed());
        handle.abort();
        let _ = handle.await;
        commits
    }
    use rivulet::Subscription;
    assert_eq!(run(|a, b| a.zip_latest(b)).await, (Some(2), Some(1)));
    assert_eq!(run(|a, b| a.zip_with(b)).await, (Some(2), Some(2)));
    assert_eq!(run(|a, b| a.combine_latest(b)).await, (Some(1), Some(1)));
}
