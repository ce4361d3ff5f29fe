//! Pull the upstream eagerly; a slow consumer sees only the newest item: streamz's `latest`.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;
use futures::{Stream, StreamExt};
use tokio::task::JoinHandle;

use super::forwarder::{Forwarder, finish};

/// Stream for [`StreamzExt::latest`](crate::StreamzExt::latest).
///
/// From the first poll on, a task of its own takes every upstream item at once (so a
/// rendezvous `emit` upstream returns right away); each replaces the one waiting, if any. When
/// the upstream ends, the newest item still comes out before the end.
#[must_use = "streams do nothing unless polled"]
pub struct Latest<S: Stream> {
    forwarder: Forwarder<S, Arc<Slot<S::Item>>>,
}

/// The newest item, shared by the task and the consumer.
struct Slot<T> {
    state: Mutex<SlotState<T>>,
    waker: AtomicWaker,
}

struct SlotState<T> {
    newest: Option<T>,
    ended: bool,
}

impl<T> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        // Each update is one assignment; a panic cannot leave the slot half-written.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Marks the slot ended when the task stops, even by a panic, so the consumer looks at the task.
struct EndOnDrop<T>(Arc<Slot<T>>);

impl<T> Drop for EndOnDrop<T> {
    fn drop(&mut self) {
        self.0.lock().ended = true;
        self.0.waker.wake();
    }
}

impl<S: Stream> Latest<S> {
    pub(crate) fn new(stream: S) -> Self {
        Latest {
            forwarder: Forwarder::new(stream),
        }
    }
}

fn spawn_forwarder<S>(upstream: S) -> (Arc<Slot<S::Item>>, JoinHandle<()>)
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    let slot = Arc::new(Slot {
        state: Mutex::new(SlotState {
            newest: None,
            ended: false,
        }),
        waker: AtomicWaker::new(),
    });
    let end = EndOnDrop(Arc::clone(&slot));
    let task = tokio::spawn(async move {
        let slot = Arc::clone(&end.0);
        let mut upstream = std::pin::pin!(upstream);
        while let Some(x) = upstream.next().await {
            slot.lock().newest = Some(x);
            slot.waker.wake();
        }
        drop(end);
    });
    (slot, task)
}

impl<S> Stream for Latest<S>
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let Some((slot, task)) = self.forwarder.start(spawn_forwarder) else {
            return Poll::Ready(None);
        };
        slot.waker.register(cx.waker());
        let (newest, ended) = {
            let mut state = slot.lock();
            (state.newest.take(), state.ended)
        };
        if let Some(x) = newest {
            return Poll::Ready(Some(x));
        }
        if !ended {
            return Poll::Pending;
        }
        let polled = finish(task, cx);
        if polled.is_ready() {
            self.forwarder = Forwarder::Done;
        }
        polled
    }
}

impl<S: Stream> std::fmt::Debug for Latest<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latest").finish_non_exhaustive()
    }
}
