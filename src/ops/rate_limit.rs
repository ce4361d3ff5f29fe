//! Space the outputs at least a given time apart, never dropping: streamz's `rate_limit`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use pin_project::pin_project;
use tokio::time::Instant;

use super::timer::{Timer, deadline_after};

/// Stream for [`StreamzExt::rate_limit`](crate::StreamzExt::rate_limit).
///
/// While it must wait it does not pull its upstream: that is its back-pressure, so a rendezvous
/// `emit` upstream waits too. The first item passes at once.
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct RateLimit<S> {
    #[pin]
    stream: S,
    interval: Duration,
    /// When the next item may pass; `None` once that time has come.
    next_allowed: Option<Instant>,
    timer: Timer,
}

impl<S> RateLimit<S> {
    pub(crate) fn new(stream: S, interval: Duration) -> Self {
        RateLimit {
            stream,
            interval,
            next_allowed: None,
            timer: Timer::default(),
        }
    }
}

impl<S: Stream> Stream for RateLimit<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        if let Some(next) = *this.next_allowed {
            futures::ready!(this.timer.poll_until(next, cx));
            *this.next_allowed = None;
        }
        let item = futures::ready!(this.stream.poll_next(cx));
        if item.is_some() {
            *this.next_allowed = Some(deadline_after(*this.interval));
        }
        Poll::Ready(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("stream", &self.stream)
            .field("interval", &self.interval)
            .field("next_allowed", &self.next_allowed)
            .finish_non_exhaustive()
    }
}
