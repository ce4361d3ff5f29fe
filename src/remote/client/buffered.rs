//! `RemoteStream::buffered(n)`: exactly `n` items in flight, pulled ahead in a task of their own.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::future::RemoteFuture;
use crate::ops::forwarder::finish;

/// The items of [`RemoteStream::buffered`](super::RemoteStream::buffered).
///
/// A task of its own pulls the upstream and sends an item's tasks once one of `n` places is
/// free; the item holds its place until its task has answered, not until it is taken from
/// here. So exactly `n` items' tasks run or wait on the workers at once when the upstream is
/// ahead, however slowly the consumer takes the results, and `n` emits of a rendezvous
/// [`Source`](crate::Source) return ahead of it (the puller holds one more item in hand, its
/// tasks not sent yet, so that its emit waits). Dropping the stream stops the task.
#[must_use = "streams do nothing unless polled"]
pub(crate) struct Buffered<T> {
    state: State<T>,
}

enum State<T> {
    /// Not polled yet.
    Waiting {
        upstream: BoxStream<'static, RemoteFuture<T>>,
        places: usize,
    },
    Running {
        items: mpsc::UnboundedReceiver<RemoteFuture<T>>,
        puller: JoinHandle<()>,
    },
    Done,
}

// Nothing is pinned: the upstream moves into the task before its first poll.
impl<T> Unpin for Buffered<T> {}

impl<T: Send + 'static> Buffered<T> {
    pub(crate) fn new(upstream: BoxStream<'static, RemoteFuture<T>>, places: usize) -> Self {
        Buffered {
            state: State::Waiting { upstream, places },
        }
    }
}

impl<T: Send + 'static> Stream for Buffered<T> {
    type Item = RemoteFuture<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let State::Waiting { .. } = self.state {
            let State::Waiting {
                mut upstream,
                places,
            } = std::mem::replace(&mut self.state, State::Done)
            else {
                unreachable!("checked just above")
            };
            let (send, items) = mpsc::unbounded_channel();
            let free = Arc::new(Semaphore::new(places));
            let puller = tokio::spawn(async move {
                loop {
                    // The next item is taken first: an emit upstream returns once it is in
                    // hand, as with `buffer(n)`. Its tasks are not sent until it has a place.
                    let Some(item) = upstream.next().await else {
                        return;
                    };
                    // Closed only by dropping the semaphore, which this task owns.
                    let Ok(place) = Arc::clone(&free).acquire_owned().await else {
                        return;
                    };
                    item.value.hold_while_running(place);
                    item.value.start();
                    if send.send(item).is_err() {
                        return; // the consumer is gone
                    }
                }
            });
            self.state = State::Running { items, puller };
        }
        let State::Running { items, puller } = &mut self.state else {
            return Poll::Ready(None);
        };
        let polled = match items.poll_recv(cx) {
            Poll::Ready(Some(item)) => return Poll::Ready(Some(item)),
            // The task dropped its sender: it ended, or its upstream panicked (raised again
            // here, for the sink driving the pipeline to report).
            Poll::Ready(None) => finish(puller, cx),
            Poll::Pending => Poll::Pending,
        };
        if polled.is_ready() {
            self.state = State::Done;
        }
        polled
    }
}

impl<T> Drop for Buffered<T> {
    fn drop(&mut self) {
        if let State::Running { puller, .. } = &self.state {
            puller.abort();
        }
    }
}
