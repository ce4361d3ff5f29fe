//! Let an item out once a quiet spell has passed without a newer one: `debounce`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use pin_project::pin_project;
use tokio::time::Instant;

use super::timer::{READY_BUDGET, Timer, assert_nonzero_duration, deadline_after};

/// Stream for [`StreamzExt::debounce`](crate::StreamzExt::debounce).
///
/// It takes items as they come (so a rendezvous `emit` upstream returns at once) and holds only
/// the newest; each newer item replaces it and restarts the quiet spell.
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct Debounce<S: Stream> {
    #[pin]
    stream: S,
    quiet: Duration,
    /// The newest item, with the instant it comes out unless a newer one comes first.
    held: Option<(Instant, S::Item)>,
    timer: Timer,
    upstream_done: bool,
}

impl<S: Stream> Debounce<S> {
    #[track_caller]
    pub(crate) fn new(stream: S, quiet: Duration) -> Self {
        assert_nonzero_duration(quiet, "debounce", "dur");
        Debounce {
            stream,
            quiet,
            held: None,
            timer: Timer::default(),
            upstream_done: false,
        }
    }
}

impl<S: Stream> Stream for Debounce<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let mut this = self.project();
        let mut taken = 0;
        while !*this.upstream_done && taken < READY_BUDGET {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(x)) => {
                    *this.held = Some((deadline_after(*this.quiet), x));
                    taken += 1;
                }
                Poll::Ready(None) => *this.upstream_done = true,
                Poll::Pending => break,
            }
        }
        if *this.upstream_done {
            // Nothing newer can come: the held item need not wait.
            return Poll::Ready(this.held.take().map(|(_, x)| x));
        }
        if let Some(&(due, _)) = this.held.as_ref() {
            if this.timer.poll_until(due, cx).is_ready() {
                return Poll::Ready(this.held.take().map(|(_, x)| x));
            }
        }
        if taken == READY_BUDGET {
            // More may be ready upstream, and nothing else would wake us for it.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

impl<S> std::fmt::Debug for Debounce<S>
where
    S: Stream + std::fmt::Debug,
    S::Item: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Debounce")
            .field("stream", &self.stream)
            .field("quiet", &self.quiet)
            .field("held", &self.held)
            .field("upstream_done", &self.upstream_done)
            .finish_non_exhaustive()
    }
}
