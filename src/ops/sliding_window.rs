//! Emit the last `n` items after each item: streamz's `sliding_window`.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::FusedStream;
use pin_project::pin_project;

use super::assert_nonzero;

/// Stream for [`StreamzExt::sliding_window`](crate::StreamzExt::sliding_window).
#[pin_project]
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct SlidingWindow<S: Stream> {
    #[pin]
    stream: S,
    n: usize,
    partial: bool,
    window: VecDeque<S::Item>,
}

impl<S: Stream> SlidingWindow<S> {
    #[track_caller]
    pub(crate) fn new(stream: S, n: usize, partial: bool) -> Self {
        assert_nonzero(n, "sliding_window", "n");
        SlidingWindow {
            stream,
            n,
            partial,
            window: VecDeque::with_capacity(n),
        }
    }
}

impl<S> Stream for SlidingWindow<S>
where
    S: Stream,
    S::Item: Clone,
{
    type Item = Vec<S::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            let Some(x) = futures::ready!(this.stream.as_mut().poll_next(cx)) else {
                return Poll::Ready(None);
            };
            if this.window.len() == *this.n {
                this.window.pop_front();
            }
            this.window.push_back(x);
            if *this.partial || this.window.len() == *this.n {
                let (front, back) = this.window.as_slices();
                let mut out = Vec::with_capacity(this.window.len());
                out.extend_from_slice(front);
                out.extend_from_slice(back);
                return Poll::Ready(Some(out));
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (lower, upper) = self.stream.size_hint();
        // Without partial windows, the first `n - 1` items only fill the window.
        let filling = if self.partial {
            0
        } else {
            (self.n - 1).saturating_sub(self.window.len())
        };
        (
            lower.saturating_sub(filling),
            upper.map(|u| u.saturating_sub(filling)),
        )
    }
}

impl<S> FusedStream for SlidingWindow<S>
where
    S: FusedStream,
    S::Item: Clone,
{
    fn is_terminated(&self) -> bool {
        self.stream.is_terminated()
    }
}
