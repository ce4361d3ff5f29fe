//! Map with a closure that can fail; the `Err`s go to an error branch: `try_map`.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures::Stream;
use pin_project::pin_project;

use super::call_user;
use crate::util::lock;

/// What the operator and its [`Errors`] stream share.
#[derive(Debug)]
struct Shared<E> {
    queue: VecDeque<E>,
    waker: Option<Waker>,
    /// The operator has ended or was dropped: no more errors will come.
    closed: bool,
}

/// The error side of [`TryMap`] and [`TryRetain`](super::TryRetain): errors go to the
/// [`Errors`] stream if one was taken and is alive, and are counted either way.
#[derive(Debug)]
pub(super) struct ErrorBranch<E> {
    shared: Option<Arc<Mutex<Shared<E>>>>,
    count: u64,
    op: &'static str,
}

impl<E> ErrorBranch<E> {
    pub(super) fn new(op: &'static str) -> Self {
        ErrorBranch {
            shared: None,
            count: 0,
            op,
        }
    }

    pub(super) fn send(&mut self, e: E) {
        self.count += 1;
        if let Some(shared) = &self.shared {
            // Only the operator holds it: the `Errors` stream was dropped.
            if Arc::strong_count(shared) > 1 {
                let mut shared = lock(shared);
                shared.queue.push_back(e);
                // A consumer waits only on an empty queue; one with items left is awake.
                if shared.queue.len() == 1 {
                    if let Some(waker) = &shared.waker {
                        waker.wake_by_ref();
                    }
                }
            }
        }
    }

    pub(super) fn close(&mut self) {
        if let Some(shared) = &self.shared {
            let mut shared = lock(shared);
            shared.closed = true;
            if let Some(waker) = shared.waker.take() {
                waker.wake();
            }
        }
    }

    #[track_caller]
    pub(super) fn errors(&mut self) -> Errors<E> {
        assert!(
            self.shared.is_none(),
            "{}: `errors()` may be called only once",
            self.op
        );
        let shared = Arc::new(Mutex::new(Shared {
            queue: VecDeque::new(),
            waker: None,
            closed: false,
        }));
        self.shared = Some(Arc::clone(&shared));
        Errors { shared }
    }

    pub(super) fn count(&self) -> u64 {
        self.count
    }
}

impl<E> Drop for ErrorBranch<E> {
    fn drop(&mut self) {
        self.close();
    }
}

/// The error branch of [`try_map`](crate::StreamzExt::try_map) and
/// [`try_retain`](crate::StreamzExt::try_retain), from their `errors()`: every `Err` the
/// closure returned, in order.
///
/// Errors wait in an unbounded queue until this stream takes them, so the main stream never
/// waits on it. It ends once the operator has ended (or was dropped) and the queue is empty.
/// Dropping it is fine: the errors that come after are only counted.
///
/// ```
/// use rivulet::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut parsed = futures::stream::iter(["1", "x", "3"]).try_map(|s| s.parse::<i32>());
/// let errors = parsed.errors();
/// assert_eq!(parsed.collect::<Vec<_>>().await, vec![1, 3]);
/// assert_eq!(errors.count().await, 1);
/// # }
/// ```
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Errors<E> {
    shared: Arc<Mutex<Shared<E>>>,
}

impl<E> Stream for Errors<E> {
    type Item = E;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<E>> {
        let mut shared = lock(&self.shared);
        if let Some(e) = shared.queue.pop_front() {
            return Poll::Ready(Some(e));
        }
        if shared.closed {
            return Poll::Ready(None);
        }
        if !shared
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            shared.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Stream for [`StreamzExt::try_map`](crate::StreamzExt::try_map): the `Ok` values of a
/// fallible closure; its `Err`s go to [`errors`](TryMap::errors).
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct TryMap<S, F, E> {
    #[pin]
    stream: S,
    f: F,
    branch: ErrorBranch<E>,
}

impl<S, F, E> TryMap<S, F, E> {
    pub(crate) fn new(stream: S, f: F) -> Self {
        TryMap {
            stream,
            f,
            branch: ErrorBranch::new("try_map"),
        }
    }

    /// The error branch: a stream of every `Err` from now on, in order. Call it before the
    /// pipeline is spawned; without it, errors are only counted.
    ///
    /// # Panics
    /// If called a second time on the same stream.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let source = Source::new();
    /// let mut halves = source.stream().try_map(|x: i32| {
    ///     if x % 2 == 0 { Ok(x / 2) } else { Err(format!("{x} is odd")) }
    /// });
    /// let dead_letters = halves.errors().sink_to_list();
    /// let ok = halves.sink_to_list();
    /// for x in 1..=4 {
    ///     source.emit(x).await.unwrap();
    /// }
    /// source.close();
    /// assert_eq!(ok.await.unwrap(), vec![1, 2]);
    /// assert_eq!(dead_letters.await.unwrap(), vec!["1 is odd", "3 is odd"]);
    /// # }
    /// ```
    #[track_caller]
    pub fn errors(&mut self) -> Errors<E> {
        self.branch.errors()
    }

    /// How many `Err`s the closure has returned so far, taken by [`errors`](TryMap::errors)
    /// or not.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let mut parsed = futures::stream::iter(["1", "x", "y"]).try_map(|s| s.parse::<u8>());
    /// assert_eq!((&mut parsed).collect::<Vec<_>>().await, vec![1]);
    /// assert_eq!(parsed.error_count(), 2);
    /// # });
    /// ```
    pub fn error_count(&self) -> u64 {
        self.branch.count()
    }
}

impl<S, F, U, E> Stream for TryMap<S, F, E>
where
    S: Stream,
    F: FnMut(S::Item) -> Result<U, E>,
{
    type Item = U;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<U>> {
        let mut this = self.project();
        loop {
            let Some(x) = futures::ready!(this.stream.as_mut().poll_next(cx)) else {
                this.branch.close();
                return Poll::Ready(None);
            };
            match call_user("try_map", || (this.f)(x)) {
                Ok(y) => return Poll::Ready(Some(y)),
                Err(e) => this.branch.send(e),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, self.stream.size_hint().1)
    }
}

impl<S: std::fmt::Debug, F, E> std::fmt::Debug for TryMap<S, F, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TryMap")
            .field("stream", &self.stream)
            .field("errors", &self.branch.count())
            .finish_non_exhaustive()
    }
}
