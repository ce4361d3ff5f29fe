//! `Source<T>`: the streamz `Stream()` you emit into, with streamz's back-pressure.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures::Stream;

use crate::LocalStream;
use crate::error::Closed;

/// The head of a pipeline: values are emitted into it and flow to every subscriber.
///
/// A `Source` is streamz's `Stream()`. Each call to [`stream`](Source::stream) makes a new
/// subscriber, a plain [`futures::Stream`] on which the operators of
/// [`StreamzExt`](crate::StreamzExt) and [`futures::StreamExt`] build a pipeline.
///
/// **Back-pressure.** By default (`Source::new()`, capacity 0) [`emit`](Source::emit) is a
/// rendezvous, as in streamz: it resolves once every subscriber has taken the item *and has come
/// back for the next one*, so when the pipeline has no buffer the item has been fully processed
/// by the time `emit` returns. [`Source::with_capacity`] lets up to `n` items wait instead.
///
/// **Handles and closing.** All clones feed the same subscribers. Like tokio's
/// `mpsc::Sender`, the source stays open while any handle does: it closes when the last handle
/// (a clone, or a clone used as a [`futures::Sink`]) is dropped or closed as a sink, or at once
/// for everybody when [`close`](Source::close) is called on any handle. So two producers can
/// each `forward` a stream into their own clone, and the first to finish does not end the
/// stream for the other (see the `futures::Sink` implementation below).
///
/// **Cancellation.** [`emit`](Source::emit) delivers its item if and only if the item was
/// queued, the same rule for every capacity: an `Emit` dropped while it waits for room
/// delivers nothing, and one dropped after its item was queued does not take it back. A
/// rendezvous emit queues its item as soon as every subscriber has taken the previous one,
/// and then waits for them to be done with it, so cancelling it (a `select!` with a timeout)
/// usually cancels only the wait; a `with_capacity` emit waits only for room, so cancelling it
/// means the item was not queued. [`Emit::is_queued`] tells which, before you drop it.
///
/// ```
/// use rivulet::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let source = Source::new();
/// let list = source.stream().map(|x: i32| x + 1).sink_to_list();
/// source.emit(1).await.unwrap();
/// assert_eq!(list.snapshot(), vec![2]); // already processed: emit waited for the sink
/// source.emit(2).await.unwrap();
/// source.close();
/// assert_eq!(list.await.unwrap(), vec![2, 3]);
/// # }
/// ```
pub struct Source<T> {
    shared: Arc<Shared<T>>,
    /// This handle was closed as a `futures::Sink` and no longer keeps the source open.
    released: bool,
    /// The global number of the last item sent through the `futures::Sink` interface that has not
    /// been acknowledged yet (rendezvous sources only).
    sink_unacked: Option<u64>,
}

struct Shared<T> {
    capacity: usize,
    handles: AtomicUsize,
    state: Mutex<State<T>>,
}

struct State<T> {
    subscribers: Vec<Subscriber<T>>,
    next_subscriber_id: u64,
    /// Global number of the next item emitted; every subscriber numbers its items the same way.
    next_item: u64,
    closed: bool,
    /// Emitters waiting for room in some subscriber's queue.
    space_waiters: Vec<Waker>,
    /// Rendezvous emitters waiting for subscribers to come back for the next item.
    ack_waiters: Vec<Waker>,
}

struct Subscriber<T> {
    id: u64,
    queue: VecDeque<T>,
    /// Global number of the next item this subscriber has asked for; every item before it has
    /// been taken and the subscriber came back after it.
    asking_for: u64,
    /// Global number of the item at the front of `queue`.
    front: u64,
    waker: Option<Waker>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A poisoned lock only means another thread panicked while holding it; the state is
        // updated in single steps that leave it consistent, so it is safe to keep using.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many items may wait in a subscriber's queue before an emitter has to wait.
    fn queue_limit(&self) -> usize {
        self.capacity.max(1)
    }
}

impl<T> State<T> {
    fn has_room(&self, limit: usize) -> bool {
        self.subscribers.iter().all(|s| s.queue.len() < limit)
    }

    fn acknowledged(&self, item: u64) -> bool {
        self.subscribers.iter().all(|s| s.asking_for > item)
    }

    fn register(waiters: &mut Vec<Waker>, waker: &Waker) {
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
    }
}

fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        waker.wake();
    }
}

impl<T> Source<T> {
    /// A rendezvous source (capacity 0): `emit` waits until every subscriber has processed the
    /// item and come back for the next.
    ///
    /// ```
    /// let source = rivulet::Source::<u8>::new();
    /// assert_eq!(source.capacity(), 0);
    /// ```
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// A source whose `emit` resolves as soon as the item is queued, with at most `capacity`
    /// items waiting to be taken by each subscriber: streamz's `buffer(n)` right after the source.
    /// `with_capacity(0)` is [`Source::new`].
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let source = Source::with_capacity(2);
    /// let mut stream = source.stream();
    /// source.emit(1).await.unwrap(); // queued, nobody has taken it yet
    /// source.emit(2).await.unwrap();
    /// assert_eq!(stream.next().await, Some(1));
    /// # }
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        Source {
            shared: Arc::new(Shared {
                capacity,
                handles: AtomicUsize::new(1),
                state: Mutex::new(State {
                    subscribers: Vec::new(),
                    next_subscriber_id: 0,
                    next_item: 0,
                    closed: false,
                    space_waiters: Vec::new(),
                    ack_waiters: Vec::new(),
                }),
            }),
            sink_unacked: None,
            released: false,
        }
    }

    /// The capacity this source was made with (0 for a rendezvous source).
    ///
    /// ```
    /// assert_eq!(rivulet::Source::<u8>::with_capacity(8).capacity(), 8);
    /// ```
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// A new subscriber: a stream of every item emitted from now on.
    ///
    /// It subscribes at this call, not at its first poll, so items emitted before a spawned
    /// pipeline first runs are not lost (`emit` simply waits for it). The stream ends after the
    /// items already emitted once the source is closed.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let source = Source::new();
    /// let doubled = source.stream().map(|x: i32| 2 * x).sink_to_list();
    /// let incremented = source.stream().map(|x: i32| x + 1).sink_to_list();
    /// for x in 0..3 {
    ///     source.emit(x).await.unwrap();
    /// }
    /// assert_eq!(doubled.snapshot(), vec![0, 2, 4]);
    /// assert_eq!(incremented.snapshot(), vec![1, 2, 3]);
    /// # }
    /// ```
    pub fn stream(&self) -> Subscription<T> {
        let mut state = self.shared.lock();
        let id = state.next_subscriber_id;
        state.next_subscriber_id += 1;
        let next_item = state.next_item;
        state.subscribers.push(Subscriber {
            id,
            queue: VecDeque::new(),
            asking_for: next_item,
            front: next_item,
            waker: None,
        });
        Subscription {
            shared: Arc::clone(&self.shared),
            id,
            done: false,
        }
    }

    /// Closes the source for every handle: every subscriber's stream ends after the items
    /// already emitted, and later emits (through any clone) return [`Closed`]. To end only this
    /// producer, drop its handle instead: the source closes when the last one goes.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let source = Source::with_capacity(1);
    /// let stream = source.stream();
    /// source.emit(1).await.unwrap();
    /// source.close();
    /// assert_eq!(stream.collect::<Vec<_>>().await, vec![1]);
    /// assert!(source.is_closed());
    /// # }
    /// ```
    pub fn close(&self) {
        let (subscribers, space, acks) = {
            let mut state = self.shared.lock();
            if state.closed {
                return;
            }
            state.closed = true;
            let subscribers: Vec<Waker> = state
                .subscribers
                .iter_mut()
                .filter_map(|s| s.waker.take())
                .collect();
            (
                subscribers,
                std::mem::take(&mut state.space_waiters),
                std::mem::take(&mut state.ack_waiters),
            )
        };
        wake_all(subscribers);
        wake_all(space);
        wake_all(acks);
    }

    /// Whether emits through this handle return [`Closed`]: [`close`](Source::close) was
    /// called, every other handle is gone and this one was closed as a `futures::Sink`, or this
    /// handle was.
    ///
    /// ```
    /// let source = rivulet::Source::<u8>::new();
    /// assert!(!source.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.released || self.shared.lock().closed
    }

    /// Lets go of this handle: it no longer keeps the source open, and the source closes if it
    /// was the last one.
    fn release(&mut self) {
        if !self.released {
            self.released = true;
            if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.close();
            }
        }
    }

    /// How many subscribers are attached now.
    ///
    /// ```
    /// let source = rivulet::Source::<u8>::new();
    /// let first = source.stream();
    /// assert_eq!(source.subscriber_count(), 1);
    /// drop(first);
    /// assert_eq!(source.subscriber_count(), 0);
    /// ```
    pub fn subscriber_count(&self) -> usize {
        self.shared.lock().subscribers.len()
    }
}

impl<T: Clone> Source<T> {
    /// Emits `x` to every subscriber, with streamz's back-pressure (see [`Source`]).
    ///
    /// Returns `Err(Closed)` once the source is closed. Emitting with no subscriber is not an
    /// error: the item goes nowhere, as in streamz. `T: Clone` is needed to hand each subscriber
    /// its own copy (the last subscriber gets the original).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let source = Source::new();
    /// assert_eq!(source.emit(1).await, Ok(())); // no subscriber: dropped, not an error
    /// # }
    /// ```
    pub fn emit(&self, x: T) -> Emit<'_, T> {
        Emit {
            shared: &self.shared,
            item: Some(x),
            unacked: None,
            queued: false,
            released: self.released,
        }
    }

    /// [`emit`](Source::emit) for plain threads: blocks the calling thread until the item is
    /// accepted. Do not call it from inside an async task (it would block that task's thread).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main]
    /// # async fn main() {
    /// let source = Source::new();
    /// let list = source.stream().sink_to_list();
    /// let producer = source.clone();
    /// std::thread::spawn(move || {
    ///     for x in 0..3 {
    ///         producer.emit_blocking(x).unwrap();
    ///     }
    /// })
    /// .join()
    /// .unwrap();
    /// assert_eq!(list.snapshot(), vec![0, 1, 2]);
    /// # }
    /// ```
    pub fn emit_blocking(&self, x: T) -> Result<(), Closed> {
        futures::executor::block_on(self.emit(x))
    }

    /// Emits every item of a local stream in turn, waiting for each as [`emit`](Source::emit)
    /// does; resolves when `items` ends or the source is closed.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let source = Source::new();
    /// let list = source.stream().sink_to_list();
    /// source.emit_all(futures::stream::iter(1..=3)).await.unwrap();
    /// assert_eq!(list.snapshot(), vec![1, 2, 3]);
    /// # }
    /// ```
    pub async fn emit_all<S>(&self, items: S) -> Result<(), Closed>
    where
        S: LocalStream<Item = T>,
    {
        let mut items = std::pin::pin!(items);
        while let Some(x) = futures::StreamExt::next(&mut items).await {
            self.emit(x).await?;
        }
        Ok(())
    }
}

enum PushFailed<T> {
    Full(T),
    Closed,
}

/// Pushes `x` into every subscriber's queue and returns its global number. With a `waiter`, the
/// push happens only if every queue has room (otherwise the waiter is registered and `x` comes
/// back); without one it happens regardless, for `Sink::start_send` after a racing clone.
fn push<T: Clone>(shared: &Shared<T>, x: T, waiter: Option<&Waker>) -> Result<u64, PushFailed<T>> {
    let mut wake = Vec::new();
    let number = {
        let mut state = shared.lock();
        if state.closed {
            return Err(PushFailed::Closed);
        }
        if let Some(waker) = waiter {
            if !state.has_room(shared.queue_limit()) {
                State::<T>::register(&mut state.space_waiters, waker);
                return Err(PushFailed::Full(x));
            }
        }
        let number = state.next_item;
        state.next_item += 1;
        let mut item = Some(x);
        let count = state.subscribers.len();
        for (i, subscriber) in state.subscribers.iter_mut().enumerate() {
            let copy = if i + 1 == count {
                item.take()
            } else {
                item.clone()
            };
            subscriber.queue.extend(copy);
            wake.extend(subscriber.waker.take());
        }
        number
    };
    wake_all(wake);
    Ok(number)
}

fn poll_acknowledged<T>(shared: &Shared<T>, item: u64, cx: &mut Context<'_>) -> Poll<()> {
    let mut state = shared.lock();
    if state.acknowledged(item) {
        Poll::Ready(())
    } else {
        State::<T>::register(&mut state.ack_waiters, cx.waker());
        Poll::Pending
    }
}

impl<T> Default for Source<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for Source<T> {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Source {
            shared: Arc::clone(&self.shared),
            sink_unacked: None,
            released: false,
        }
    }
}

impl<T> Drop for Source<T> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<T> std::fmt::Debug for Source<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Source")
            .field("capacity", &self.shared.capacity)
            .field("subscribers", &state.subscribers.len())
            .field("closed", &state.closed)
            .field("released", &self.released)
            .finish()
    }
}

/// The future returned by [`Source::emit`].
#[must_use = "futures do nothing unless polled: the item is not emitted"]
pub struct Emit<'a, T> {
    shared: &'a Arc<Shared<T>>,
    item: Option<T>,
    /// Set once the item is pushed into a rendezvous source: its global number.
    unacked: Option<u64>,
    /// The item is in the subscribers' queues.
    queued: bool,
    /// The handle was closed as a sink: the emit fails as on a closed source.
    released: bool,
}

impl<T> Unpin for Emit<'_, T> {}

impl<T> Emit<'_, T> {
    /// Whether the item is queued: from then on it is delivered even if this future is dropped
    /// (see *Cancellation* on [`Source`]). A rendezvous emit can be queued and still pending,
    /// waiting for the subscribers to be done with the item.
    ///
    /// ```
    /// use std::task::Poll;
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let source = Source::new();
    /// let mut stream = source.stream();
    /// let mut emit = source.emit(1);
    /// assert!(!emit.is_queued());
    /// // Polled once: queued for the subscriber, and waiting for it to take the item.
    /// assert!(futures::poll!(&mut emit).is_pending());
    /// assert!(emit.is_queued());
    /// drop(emit); // cancels the wait, not the item
    /// assert_eq!(stream.next().await, Some(1));
    /// # }
    /// ```
    pub fn is_queued(&self) -> bool {
        self.queued
    }
}

impl<T: Clone> Future for Emit<'_, T> {
    type Output = Result<(), Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.released {
            return Poll::Ready(Err(Closed));
        }
        if let Some(x) = this.item.take() {
            match push(this.shared, x, Some(cx.waker())) {
                Ok(number) if this.shared.capacity == 0 => {
                    this.queued = true;
                    this.unacked = Some(number);
                }
                Ok(_) => {
                    this.queued = true;
                    return Poll::Ready(Ok(()));
                }
                Err(PushFailed::Full(x)) => {
                    this.item = Some(x);
                    return Poll::Pending;
                }
                Err(PushFailed::Closed) => return Poll::Ready(Err(Closed)),
            }
        }
        match this.unacked {
            Some(number) => poll_acknowledged(this.shared, number, cx).map(Ok),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl<T> std::fmt::Debug for Emit<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emit")
            .field("queued", &self.queued)
            .field("unacked", &self.unacked)
            .finish()
    }
}

/// `Source` as a [`futures::Sink`]: `send(x)` behaves like `emit(x)` (the flush waits for the
/// rendezvous). Closing the sink closes this handle: the source itself closes when no other
/// handle is left, as when the handle is dropped, so `stream.forward(source.clone())` ending
/// does not end the source for its other producers (call [`Source::close`] for that).
///
/// ```
/// use futures::SinkExt;
/// use rivulet::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut source = Source::new();
/// let list = source.stream().sink_to_list();
/// source.send(5).await.unwrap();
/// assert_eq!(list.snapshot(), vec![5]);
/// # }
/// ```
impl<T: Clone> futures::Sink<T> for Source<T> {
    type Error = Closed;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Closed>> {
        if self.released {
            return Poll::Ready(Err(Closed));
        }
        let mut state = self.shared.lock();
        if state.closed {
            Poll::Ready(Err(Closed))
        } else if state.has_room(self.shared.queue_limit()) {
            Poll::Ready(Ok(()))
        } else {
            State::<T>::register(&mut state.space_waiters, cx.waker());
            Poll::Pending
        }
    }

    fn start_send(self: Pin<&mut Self>, x: T) -> Result<(), Closed> {
        let this = self.get_mut();
        if this.released {
            return Err(Closed);
        }
        // `poll_ready` saw room; a racing clone may have taken it since, and the item goes in
        // all the same (a queue may exceed its capacity by the number of racing clones).
        let number = push(&this.shared, x, None).map_err(|_| Closed)?;
        if this.shared.capacity == 0 {
            this.sink_unacked = Some(number);
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Closed>> {
        let this = self.get_mut();
        if let Some(number) = this.sink_unacked {
            futures::ready!(poll_acknowledged(&this.shared, number, cx));
            this.sink_unacked = None;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Closed>> {
        let this = self.get_mut();
        futures::ready!(Pin::new(&mut *this).poll_flush(cx))?;
        this.release();
        Poll::Ready(Ok(()))
    }
}

/// A subscriber of a [`Source`]: every item emitted after [`Source::stream`] was called.
///
/// Dropping it unsubscribes, so no `emit` waits on it any more.
#[must_use = "streams do nothing unless polled"]
pub struct Subscription<T> {
    shared: Arc<Shared<T>>,
    id: u64,
    done: bool,
}

impl<T> Unpin for Subscription<T> {}

impl<T> Stream for Subscription<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let limit = this.shared.queue_limit();
        let mut state = this.shared.lock();
        let closed = state.closed;
        let Some(subscriber) = state.subscribers.iter_mut().find(|s| s.id == this.id) else {
            this.done = true;
            return Poll::Ready(None);
        };
        // Coming back here means every item before `front` is done with.
        let acked_more = subscriber.asking_for < subscriber.front;
        subscriber.asking_for = subscriber.front;
        let was_full = subscriber.queue.len() >= limit;
        let item = subscriber.queue.pop_front();
        match item {
            Some(_) => subscriber.front += 1,
            None if closed => {}
            None => {
                if !subscriber
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    subscriber.waker = Some(cx.waker().clone());
                }
            }
        }
        let acks = if acked_more {
            std::mem::take(&mut state.ack_waiters)
        } else {
            Vec::new()
        };
        let space = if was_full && item.is_some() {
            std::mem::take(&mut state.space_waiters)
        } else {
            Vec::new()
        };
        drop(state);
        wake_all(acks);
        wake_all(space);
        match item {
            Some(x) => Poll::Ready(Some(x)),
            None if closed => {
                this.done = true;
                Poll::Ready(None)
            }
            None => Poll::Pending,
        }
    }
}

impl<T> futures::stream::FusedStream for Subscription<T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        let (space, acks) = {
            let mut state = self.shared.lock();
            state.subscribers.retain(|s| s.id != self.id);
            (
                std::mem::take(&mut state.space_waiters),
                std::mem::take(&mut state.ack_waiters),
            )
        };
        wake_all(space);
        wake_all(acks);
    }
}

impl<T> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}
