//! `Source`: when it closes (its last handle gone, like tokio's `mpsc::Sender`, or `close()`),
//! and what a cancelled `emit` has delivered, for both kinds of source.

mod support;

use futures::SinkExt;
use rivulet::Closed;
use rivulet::prelude::*;
use support::within;

#[tokio::test]
async fn the_first_producer_to_finish_does_not_close_the_source_for_the_other() {
    let source = Source::new();
    let mut stream = source.stream();
    let (tx, rx) = futures::channel::mpsc::unbounded::<i32>();
    let first = tokio::spawn(
        futures::stream::iter([1, 2, 3])
            .map(Ok)
            .forward(source.clone()),
    );
    let second = tokio::spawn(rx.map(Ok).forward(source.clone()));
    drop(source);

    for x in [1, 2, 3] {
        assert_eq!(within(stream.next()).await, Some(x));
    }
    // Ask for the next item (which lets the first producer's last send complete), then let the
    // first producer finish: its `forward` closes its own handle only.
    let mut next = stream.next();
    assert!(futures::poll!(&mut next).is_pending());
    within(first)
        .await
        .expect("the first producer does not panic")
        .expect("the source was open for the first producer");
    assert!(futures::poll!(&mut next).is_pending(), "the stream ended");

    tx.unbounded_send(4)
        .expect("the second producer is running");
    assert_eq!(within(next).await, Some(4));
    // Dropping the last producer's input ends its `forward`, which releases the last handle.
    drop(tx);
    assert_eq!(within(stream.next()).await, None);
    within(second)
        .await
        .expect("the second producer does not panic")
        .expect("the source was open for the second producer");
}

#[tokio::test]
async fn dropping_every_handle_ends_the_stream_after_the_queued_items() {
    let source = Source::with_capacity(4);
    let stream = source.stream();
    let a = source.clone();
    let b = source.clone();
    drop(source);
    a.emit(1).await.unwrap();
    drop(a);
    assert!(!b.is_closed());
    b.emit(2).await.unwrap();
    drop(b);
    assert_eq!(within(stream.collect::<Vec<_>>()).await, vec![1, 2]);
}

#[tokio::test]
async fn a_handle_closed_as_a_sink_refuses_items_and_leaves_the_others_open() {
    let mut a = Source::with_capacity(4);
    let b = a.clone();
    let mut stream = a.stream();
    a.send(1).await.unwrap();
    SinkExt::close(&mut a).await.unwrap();
    assert!(a.is_closed());
    assert!(!b.is_closed());
    assert_eq!(a.send(2).await, Err(Closed));
    assert_eq!(a.emit(3).await, Err(Closed));
    b.emit(4).await.unwrap();
    assert_eq!(stream.next().await, Some(1));
    assert_eq!(stream.next().await, Some(4));
    // The last open handle, closed as a sink, closes the source.
    let mut b = b;
    SinkExt::close(&mut b).await.unwrap();
    assert_eq!(within(stream.next()).await, None);
    drop(a);
}

#[tokio::test]
async fn close_on_any_handle_closes_the_source_for_all() {
    let source = Source::<i32>::new();
    let other = source.clone();
    let stream = source.stream();
    other.close();
    assert!(source.is_closed());
    assert_eq!(source.emit(1).await, Err(Closed));
    assert_eq!(within(stream.collect::<Vec<_>>()).await, Vec::<i32>::new());
}

/// An emit cancelled while it waits for room delivers nothing, on either kind of source.
async fn cancelled_while_waiting_for_room(source: Source<i32>) {
    let mut stream = source.stream();
    // Fill the subscriber's queue (one item for a rendezvous source, `capacity` otherwise),
    // cancelling the rendezvous emit's wait for the subscriber, which does not take it back.
    let capacity = source.capacity().max(1);
    for x in 0..capacity {
        let mut emit = source.emit(x as i32);
        let _ = futures::poll!(&mut emit);
        assert!(emit.is_queued());
    }
    let mut blocked = source.emit(100);
    assert!(futures::poll!(&mut blocked).is_pending());
    assert!(!blocked.is_queued());
    drop(blocked);
    for x in 0..capacity {
        assert_eq!(stream.next().await, Some(x as i32));
    }
    let mut next = stream.next();
    assert!(futures::poll!(&mut next).is_pending());
    drop(next);
    source.close();
    assert_eq!(
        stream.next().await,
        None,
        "the cancelled item was delivered"
    );
}

#[tokio::test]
async fn cancelled_while_waiting_for_room_delivers_nothing_on_a_rendezvous_source() {
    cancelled_while_waiting_for_room(Source::new()).await;
}

#[tokio::test]
async fn cancelled_while_waiting_for_room_delivers_nothing_on_a_queued_source() {
    cancelled_while_waiting_for_room(Source::with_capacity(3)).await;
}

/// An emit cancelled once its item is queued has delivered it, on either kind of source.
async fn cancelled_once_queued(source: Source<i32>) {
    let mut stream = source.stream();
    let mut emit = source.emit(7);
    let first = futures::poll!(&mut emit);
    assert!(emit.is_queued());
    // A rendezvous emit is still waiting for the subscriber; a queued one is done.
    assert_eq!(first.is_pending(), source.capacity() == 0);
    drop(emit);
    source.close();
    assert_eq!(stream.next().await, Some(7));
    assert_eq!(stream.next().await, None);
}

#[tokio::test]
async fn cancelled_once_queued_delivers_on_a_rendezvous_source() {
    cancelled_once_queued(Source::new()).await;
}

#[tokio::test]
async fn cancelled_once_queued_delivers_on_a_queued_source() {
    cancelled_once_queued(Source::with_capacity(2)).await;
}
