//! Every interval, the newest item since the last one: `sample`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use pin_project::pin_project;

use super::timed_window::Intervals;
use super::timer::READY_BUDGET;

/// Stream for [`StreamzExt::sample`](crate::StreamzExt::sample).
///
/// It takes items as they come (so a rendezvous `emit` upstream returns at once) and holds only
/// the newest. Its intervals are those of [`timed_window`](crate::StreamzExt::timed_window):
/// aligned to its creation, missed ones skipped.
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct Sample<S: Stream> {
    #[pin]
    stream: S,
    intervals: Intervals,
    newest: Option<S::Item>,
    upstream_done: bool,
}

impl<S: Stream> Sample<S> {
    #[track_caller]
    pub(crate) fn new(stream: S, interval: Duration) -> Self {
        Sample {
            stream,
            intervals: Intervals::new(interval, "sample"),
            newest: None,
            upstream_done: false,
        }
    }
}

impl<S: Stream> Stream for Sample<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let mut this = self.project();
        let mut taken = 0;
        while !*this.upstream_done && taken < READY_BUDGET {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(x)) => {
                    *this.newest = Some(x);
                    taken += 1;
                }
                Poll::Ready(None) => *this.upstream_done = true,
                Poll::Pending => break,
            }
        }
        if *this.upstream_done {
            // The last item is not lost: it comes out at once.
            return Poll::Ready(this.newest.take());
        }
        // The interval runs whether or not an item came, as a grid.
        while this.intervals.poll_close(cx).is_ready() {
            if let Some(x) = this.newest.take() {
                return Poll::Ready(Some(x));
            }
        }
        if taken == READY_BUDGET {
            // More may be ready upstream, and nothing else would wake us for it.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

impl<S> std::fmt::Debug for Sample<S>
where
    S: Stream + std::fmt::Debug,
    S::Item: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sample")
            .field("stream", &self.stream)
            .field("interval", &self.intervals.interval())
            .field("newest", &self.newest)
            .field("upstream_done", &self.upstream_done)
            .finish_non_exhaustive()
    }
}
