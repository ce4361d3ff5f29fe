//! Run the upstream ahead in its own task, holding up to `n` items: streamz's `buffer`.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::forwarder::{Forwarder, finish};

/// Stream for [`StreamzExt::buffer`](crate::StreamzExt::buffer).
///
/// The upstream runs in a task of its own from the first poll on, sending into a queue of `n`
/// items: with a rendezvous [`Source`](crate::Source) upstream, exactly `n` emits complete ahead
/// of a consumer that is busy (the task holds one more item in hand, unacknowledged, so that
/// emit waits).
#[must_use = "streams do nothing unless polled"]
pub struct Buffer<S: Stream> {
    forwarder: Forwarder<S, mpsc::Receiver<S::Item>>,
    capacity: usize,
}

impl<S: Stream> Buffer<S> {
    pub(crate) fn new(stream: S, capacity: usize) -> Self {
        Buffer {
            forwarder: Forwarder::new(stream),
            capacity,
        }
    }
}

fn spawn_forwarder<S>(upstream: S, capacity: usize) -> (mpsc::Receiver<S::Item>, JoinHandle<()>)
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    let (tx, rx) = mpsc::channel(capacity);
    let task = tokio::spawn(async move {
        let mut upstream = std::pin::pin!(upstream);
        while let Some(x) = upstream.next().await {
            if tx.send(x).await.is_err() {
                break; // the consumer is gone
            }
        }
    });
    (rx, task)
}

impl<S> Stream for Buffer<S>
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let capacity = self.capacity;
        let Some((rx, task)) = self
            .forwarder
            .start(|upstream| spawn_forwarder(upstream, capacity))
        else {
            return Poll::Ready(None);
        };
        let polled = match rx.poll_recv(cx) {
            Poll::Ready(Some(x)) => return Poll::Ready(Some(x)),
            // The task dropped its sender: it ended, or its upstream panicked.
            Poll::Ready(None) => finish(task, cx),
            Poll::Pending => Poll::Pending,
        };
        if polled.is_ready() {
            self.forwarder = Forwarder::Done;
        }
        polled
    }
}

impl<S: Stream> std::fmt::Debug for Buffer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffer")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}
