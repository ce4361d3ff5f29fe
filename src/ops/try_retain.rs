//! Keep items by a predicate that can fail; the `Err`s go to an error branch: `try_retain`.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use pin_project::pin_project;

use super::call_user;
use super::try_map::{ErrorBranch, Errors};

/// Stream for [`StreamzExt::try_retain`](crate::StreamzExt::try_retain): the items for which
/// a fallible predicate gives `Ok(true)`; its `Err`s go to [`errors`](TryRetain::errors).
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct TryRetain<S, F, E> {
    #[pin]
    stream: S,
    pred: F,
    branch: ErrorBranch<E>,
}

impl<S, F, E> TryRetain<S, F, E> {
    pub(crate) fn new(stream: S, pred: F) -> Self {
        TryRetain {
            stream,
            pred,
            branch: ErrorBranch::new("try_retain"),
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
    /// let mut small = futures::stream::iter(["1", "x", "300", "7"])
    ///     .try_retain(|s| s.parse::<u32>().map(|n| n < 100));
    /// let errors = small.errors();
    /// assert_eq!(small.collect::<Vec<_>>().await, vec!["1", "7"]);
    /// assert_eq!(errors.count().await, 1);
    /// # }
    /// ```
    #[track_caller]
    pub fn errors(&mut self) -> Errors<E> {
        self.branch.errors()
    }

    /// How many `Err`s the predicate has returned so far, taken by
    /// [`errors`](TryRetain::errors) or not.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let mut kept = futures::stream::iter(["1", "x"]).try_retain(|s| s.parse::<u8>().map(|_| true));
    /// assert_eq!((&mut kept).count().await, 1);
    /// assert_eq!(kept.error_count(), 1);
    /// # });
    /// ```
    pub fn error_count(&self) -> u64 {
        self.branch.count()
    }
}

impl<S, F, E> Stream for TryRetain<S, F, E>
where
    S: Stream,
    F: FnMut(&S::Item) -> Result<bool, E>,
{
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let mut this = self.project();
        loop {
            let Some(x) = futures::ready!(this.stream.as_mut().poll_next(cx)) else {
                this.branch.close();
                return Poll::Ready(None);
            };
            match call_user("try_retain", || (this.pred)(&x)) {
                Ok(true) => return Poll::Ready(Some(x)),
                Ok(false) => {}
                Err(e) => this.branch.send(e),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, self.stream.size_hint().1)
    }
}

impl<S: std::fmt::Debug, F, E> std::fmt::Debug for TryRetain<S, F, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TryRetain")
            .field("stream", &self.stream)
            .field("errors", &self.branch.count())
            .finish_non_exhaustive()
    }
}
