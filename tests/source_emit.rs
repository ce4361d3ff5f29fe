//! `Source`: emit semantics, back-pressure, close, the `Sink` interface, several subscribers.

use std::time::Duration;

use futures::SinkExt;
use rivulet::Closed;
use rivulet::prelude::*;
use tokio::time::Instant;

/// V1 (test_basic): two subscribers of one source, one of them accumulated.
#[tokio::test]
async fn v1_basic_two_branches() {
    let source = Source::new();
    let b1 = source.stream().map(|x: i64| x + 1);
    let b2 = source.stream().map(|x: i64| 2 * x).sink_to_list();
    let c = b1
        .scan(0, |acc, x| {
            *acc += x;
            futures::future::ready(Some(*acc))
        })
        .sink_to_list();
    for x in 0..4 {
        source.emit(x).await.unwrap();
    }
    assert_eq!(c.snapshot(), vec![1, 3, 6, 10]);
    assert_eq!(b2.snapshot(), vec![0, 2, 4, 6]);
}

/// V2 (test_no_output): emitting with no subscriber is fine.
#[tokio::test]
async fn v2_emit_without_subscribers() {
    let source = Source::new();
    assert_eq!(source.emit(1).await, Ok(()));
}

#[tokio::test]
async fn emit_returns_after_the_sink_processed_the_item() {
    let source = Source::new();
    let list = source.stream().map(|x: i32| x + 1).sink_to_list();
    source.emit(1).await.unwrap();
    assert_eq!(list.snapshot(), vec![2]);
    source.emit(2).await.unwrap();
    assert_eq!(list.snapshot(), vec![2, 3]);
}

#[tokio::test]
async fn emit_into_closed_source_is_an_error() {
    let source = Source::<i32>::new();
    let list = source.stream().sink_to_list();
    source.close();
    assert_eq!(source.emit(1).await, Err(Closed));
    assert_eq!(source.emit_blocking_in_task(), Err(Closed));
    assert_eq!(list.await.unwrap(), Vec::<i32>::new());
}

trait BlockingInTask {
    fn emit_blocking_in_task(&self) -> Result<(), Closed>;
}
impl BlockingInTask for Source<i32> {
    fn emit_blocking_in_task(&self) -> Result<(), Closed> {
        // A closed source answers at once, so blocking is harmless here.
        self.emit_blocking(2)
    }
}

#[tokio::test]
async fn close_ends_streams_after_emitted_items() {
    let source = Source::with_capacity(3);
    let stream = source.stream();
    for x in 0..3 {
        source.emit(x).await.unwrap();
    }
    source.close();
    assert_eq!(stream.collect::<Vec<_>>().await, vec![0, 1, 2]);
}

#[tokio::test]
async fn dropping_the_last_handle_closes() {
    let source = Source::with_capacity(1);
    let stream = source.stream();
    source.emit(5).await.unwrap();
    let clone = source.clone();
    drop(source);
    assert!(!clone.is_closed());
    drop(clone);
    assert_eq!(stream.collect::<Vec<_>>().await, vec![5]);
}

#[tokio::test]
async fn subscribing_before_the_sink_runs_loses_nothing() {
    let source = Source::new();
    let stream = source.stream();
    let emitter = {
        let source = source.clone();
        tokio::spawn(async move {
            for x in 0..3 {
                source.emit(x).await.unwrap();
            }
        })
    };
    tokio::task::yield_now().await;
    let list = stream.sink_to_list();
    emitter.await.unwrap();
    assert_eq!(list.snapshot(), vec![0, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn slow_sink_paces_the_emitter() {
    let source = Source::new();
    let done = source
        .stream()
        .then(|x: u32| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            x
        })
        .sink(drop);
    let start = Instant::now();
    for x in 0..5 {
        source.emit(x).await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::from_millis(500));
    source.close();
    done.await.unwrap();
}

#[tokio::test]
async fn with_capacity_lets_exactly_n_wait() {
    let source = Source::with_capacity(2);
    let mut stream = source.stream();
    source.emit(1).await.unwrap();
    source.emit(2).await.unwrap();
    let mut third = tokio_test::task::spawn(source.emit(3));
    tokio_test::assert_pending!(third.poll());
    assert_eq!(stream.next().await, Some(1));
    assert!(third.is_woken());
    tokio_test::assert_ready_eq!(third.poll(), Ok(()));
}

#[tokio::test]
async fn rendezvous_waits_for_every_subscriber_to_come_back() {
    let source = Source::new();
    let mut a = source.stream();
    let mut b = source.stream();
    let mut emit = tokio_test::task::spawn(source.emit(1));
    tokio_test::assert_pending!(emit.poll());
    assert_eq!(a.next().await, Some(1));
    assert_eq!(b.next().await, Some(1));
    // Both took it, neither came back yet.
    tokio_test::assert_pending!(emit.poll());
    let mut a_next = tokio_test::task::spawn(a.next());
    tokio_test::assert_pending!(a_next.poll());
    tokio_test::assert_pending!(emit.poll());
    drop(b); // a dropped subscriber holds nothing up
    tokio_test::assert_ready_eq!(emit.poll(), Ok(()));
}

#[tokio::test]
async fn sink_interface_sends_with_rendezvous() {
    let mut source = Source::new();
    let list = source.stream().sink_to_list();
    source.send(1).await.unwrap();
    source.send(2).await.unwrap();
    assert_eq!(list.snapshot(), vec![1, 2]);
    SinkExt::close(&mut source).await.unwrap();
    assert_eq!(list.await.unwrap(), vec![1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_blocking_from_plain_threads() {
    let source = Source::new();
    let list = source.stream().sink_to_list();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let source = source.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    source.emit_blocking(t * 1000 + i).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    source.close();
    let mut got = list.await.unwrap();
    got.sort();
    let mut want: Vec<i32> = (0..4)
        .flat_map(|t| (0..100).map(move |i| t * 1000 + i))
        .collect();
    want.sort();
    assert_eq!(got, want);
}

/// V107: a panicking branch ends with an error; the other branch keeps running.
#[tokio::test]
async fn v107_panicking_branch_does_not_stop_others() {
    let source = Source::new();
    let a = source.stream().map(|x: i32| 10 / x).sink_to_list();
    let b = source.stream().sink_to_list();
    source.emit(0).await.unwrap();
    source.emit(1).await.unwrap();
    assert_eq!(b.snapshot(), vec![0, 1]);
    let err = a.await.unwrap_err();
    assert!(err.to_string().contains("divide by zero"), "{err}");
}
