//! Run an async function on each item, a bounded number at once, in order: streamz's `map_async`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::StreamExt as _;
use futures::stream::{FusedStream, FuturesOrdered};
use pin_project::pin_project;

use super::{assert_nonzero, call_user};

/// Stream for [`StreamzExt::map_async`](crate::StreamzExt::map_async).
///
/// It starts a future for each item while fewer than its limit are in flight (a finished future
/// waiting for an earlier one to finish still counts), and yields their outputs in input order.
/// It takes items only while it is under its limit: that is its back-pressure (as in
/// [`rate_limit`](crate::StreamzExt::rate_limit), it holds back on purpose).
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct MapAsync<S, F, Fut: Future> {
    #[pin]
    stream: S,
    f: F,
    in_flight: FuturesOrdered<Fut>,
    limit: usize,
    upstream_done: bool,
}

impl<S, F, Fut: Future> MapAsync<S, F, Fut> {
    #[track_caller]
    pub(crate) fn new(stream: S, limit: usize, f: F) -> Self {
        assert_nonzero(limit, "map_async", "n");
        MapAsync {
            stream,
            f,
            in_flight: FuturesOrdered::new(),
            limit,
            upstream_done: false,
        }
    }
}

impl<S, F, Fut> Stream for MapAsync<S, F, Fut>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future,
{
    type Item = Fut::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Fut::Output>> {
        let mut this = self.project();
        while !*this.upstream_done && this.in_flight.len() < *this.limit {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(x)) => {
                    let fut = call_user("map_async", || (this.f)(x));
                    this.in_flight.push_back(fut);
                }
                Poll::Ready(None) => *this.upstream_done = true,
                Poll::Pending => break,
            }
        }
        let in_flight = &mut *this.in_flight;
        match call_user("map_async", || in_flight.poll_next_unpin(cx)) {
            Poll::Ready(Some(y)) => Poll::Ready(Some(y)),
            Poll::Ready(None) if *this.upstream_done => Poll::Ready(None),
            // Nothing in flight: the upstream is pending and will wake us.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (low, high) = if self.upstream_done {
            (0, Some(0))
        } else {
            self.stream.size_hint()
        };
        let n = self.in_flight.len();
        (
            low.saturating_add(n),
            high.and_then(|high| high.checked_add(n)),
        )
    }
}

impl<S, F, Fut> FusedStream for MapAsync<S, F, Fut>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future,
{
    fn is_terminated(&self) -> bool {
        self.upstream_done && self.in_flight.is_empty()
    }
}

impl<S: std::fmt::Debug, F, Fut: Future> std::fmt::Debug for MapAsync<S, F, Fut> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapAsync")
            .field("stream", &self.stream)
            .field("in_flight", &self.in_flight.len())
            .field("limit", &self.limit)
            .field("upstream_done", &self.upstream_done)
            .finish_non_exhaustive()
    }
}
