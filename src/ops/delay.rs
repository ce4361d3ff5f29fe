//! Let each item out a fixed time after it came in: streamz's `delay`, as a true delay.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use pin_project::pin_project;
use tokio::time::Instant;

use super::timer::{READY_BUDGET, Timer, deadline_after};

/// Stream for [`StreamzExt::delay`](crate::StreamzExt::delay).
///
/// Items are taken as soon as they come (so a rendezvous `emit` upstream returns at once) and
/// held, in order, until their time. One timer serves them all: the deadlines are in arrival
/// order, so only the front one can be due first.
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct Delay<S: Stream> {
    #[pin]
    stream: S,
    delay: Duration,
    /// The items held, each with the instant it is due.
    held: VecDeque<(Instant, S::Item)>,
    timer: Timer,
    upstream_done: bool,
}

impl<S: Stream> Delay<S> {
    pub(crate) fn new(stream: S, delay: Duration) -> Self {
        Delay {
            stream,
            delay,
            held: VecDeque::new(),
            timer: Timer::default(),
            upstream_done: false,
        }
    }
}

impl<S: Stream> Stream for Delay<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let mut this = self.project();
        let mut taken = 0;
        while !*this.upstream_done && taken < READY_BUDGET {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(x)) => {
                    this.held.push_back((deadline_after(*this.delay), x));
                    taken += 1;
                }
                Poll::Ready(None) => *this.upstream_done = true,
                Poll::Pending => break,
            }
        }
        if let Some(&(due, _)) = this.held.front() {
            if this.timer.poll_until(due, cx).is_ready() {
                return Poll::Ready(this.held.pop_front().map(|(_, x)| x));
            }
        } else if *this.upstream_done {
            return Poll::Ready(None);
        }
        if taken == READY_BUDGET {
            // More may be ready upstream, and nothing else would wake us for it.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (low, high) = if self.upstream_done {
            (0, Some(0))
        } else {
            self.stream.size_hint()
        };
        let held = self.held.len();
        (
            low.saturating_add(held),
            high.and_then(|high| high.checked_add(held)),
        )
    }
}

impl<S> std::fmt::Debug for Delay<S>
where
    S: Stream + std::fmt::Debug,
    S::Item: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delay")
            .field("stream", &self.stream)
            .field("delay", &self.delay)
            .field("held", &self.held)
            .field("upstream_done", &self.upstream_done)
            .finish_non_exhaustive()
    }
}
