//! Group items into sessions that end after a quiet gap, in processing time: `session_window`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use pin_project::pin_project;
use tokio::time::Instant;

use super::timer::{READY_BUDGET, Timer, assert_nonzero_duration, deadline_after};

/// Stream for [`StreamzExt::session_window`](crate::StreamzExt::session_window).
///
/// It takes items as they come (so a rendezvous `emit` upstream returns at once) and holds the
/// current session until `gap` has passed without an item.
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct SessionWindow<S: Stream> {
    #[pin]
    stream: S,
    gap: Duration,
    session: Vec<S::Item>,
    /// When the current session ends unless an item comes first.
    ends_at: Option<Instant>,
    timer: Timer,
    upstream_done: bool,
}

impl<S: Stream> SessionWindow<S> {
    #[track_caller]
    pub(crate) fn new(stream: S, gap: Duration) -> Self {
        assert_nonzero_duration(gap, "session_window", "gap");
        SessionWindow {
            stream,
            gap,
            session: Vec::new(),
            ends_at: None,
            timer: Timer::default(),
            upstream_done: false,
        }
    }
}

impl<S: Stream> Stream for SessionWindow<S> {
    type Item = Vec<S::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Vec<S::Item>>> {
        let mut this = self.project();
        let mut taken = 0;
        while !*this.upstream_done && taken < READY_BUDGET {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(x)) => {
                    this.session.push(x);
                    *this.ends_at = Some(deadline_after(*this.gap));
                    taken += 1;
                }
                Poll::Ready(None) => *this.upstream_done = true,
                Poll::Pending => break,
            }
        }
        if *this.upstream_done {
            // The last session comes out at once: nothing can extend it.
            *this.ends_at = None;
            if this.session.is_empty() {
                return Poll::Ready(None);
            }
            return Poll::Ready(Some(std::mem::take(this.session)));
        }
        if let Some(ends_at) = *this.ends_at {
            if this.timer.poll_until(ends_at, cx).is_ready() {
                *this.ends_at = None;
                return Poll::Ready(Some(std::mem::take(this.session)));
            }
        }
        if taken == READY_BUDGET {
            // More may be ready upstream, and nothing else would wake us for it.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

impl<S> std::fmt::Debug for SessionWindow<S>
where
    S: Stream + std::fmt::Debug,
    S::Item: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWindow")
            .field("stream", &self.stream)
            .field("gap", &self.gap)
            .field("session", &self.session)
            .field("ends_at", &self.ends_at)
            .field("upstream_done", &self.upstream_done)
            .finish_non_exhaustive()
    }
}
