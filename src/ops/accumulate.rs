//! Fold each item into a state and emit what the closure returns: streamz's `accumulate`/`scan`.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::FusedStream;
use pin_project::pin_project;

use super::call_user;

/// Stream for [`StreamzExt::accumulate`](crate::StreamzExt::accumulate).
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct Accumulate<S, St, F> {
    #[pin]
    stream: S,
    state: St,
    f: F,
}

impl<S, St, F> Accumulate<S, St, F> {
    pub(crate) fn new(stream: S, init: St, f: F) -> Self {
        Accumulate {
            stream,
            state: init,
            f,
        }
    }
}

impl<S, St, F, U> Stream for Accumulate<S, St, F>
where
    S: Stream,
    F: FnMut(&mut St, S::Item) -> U,
{
    type Item = U;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<U>> {
        let this = self.project();
        match futures::ready!(this.stream.poll_next(cx)) {
            Some(x) => {
                let (state, f) = (this.state, this.f);
                Poll::Ready(Some(call_user("accumulate", || f(state, x))))
            }
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}

impl<S, St, F, U> FusedStream for Accumulate<S, St, F>
where
    S: FusedStream,
    F: FnMut(&mut St, S::Item) -> U,
{
    fn is_terminated(&self) -> bool {
        self.stream.is_terminated()
    }
}

impl<S: fmt::Debug, St: fmt::Debug, F> fmt::Debug for Accumulate<S, St, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accumulate")
            .field("stream", &self.stream)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}
