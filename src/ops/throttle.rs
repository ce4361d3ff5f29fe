//! Let the first item of each interval through and drop the rest: `throttle`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use futures::stream::FusedStream;
use pin_project::pin_project;
use tokio::time::Instant;

use super::timer::{assert_nonzero_duration, deadline_after};

/// Stream for [`StreamzExt::throttle`](crate::StreamzExt::throttle).
///
/// It keeps taking from its upstream (dropping what it must), so a rendezvous `emit` upstream
/// never waits on it; it needs no timer, only the clock.
#[pin_project]
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Throttle<S> {
    #[pin]
    stream: S,
    interval: Duration,
    /// Until when items are dropped: `interval` after the last item let through.
    closed_until: Option<Instant>,
    dropped: u64,
}

impl<S> Throttle<S> {
    #[track_caller]
    pub(crate) fn new(stream: S, interval: Duration) -> Self {
        assert_nonzero_duration(interval, "throttle", "dur");
        Throttle {
            stream,
            interval,
            closed_until: None,
            dropped: 0,
        }
    }

    /// How many items have been dropped so far.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut first = futures::stream::iter(0..5).throttle(Duration::from_secs(1));
    /// assert_eq!(first.next().await, Some(0));
    /// assert_eq!(first.next().await, None);
    /// assert_eq!(first.dropped(), 4);
    /// # }
    /// ```
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl<S: Stream> Stream for Throttle<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let mut this = self.project();
        loop {
            let Some(x) = futures::ready!(this.stream.as_mut().poll_next(cx)) else {
                return Poll::Ready(None);
            };
            if this
                .closed_until
                .is_none_or(|until| Instant::now() >= until)
            {
                *this.closed_until = Some(deadline_after(*this.interval));
                return Poll::Ready(Some(x));
            }
            *this.dropped += 1;
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, self.stream.size_hint().1)
    }
}

impl<S: FusedStream> FusedStream for Throttle<S> {
    fn is_terminated(&self) -> bool {
        self.stream.is_terminated()
    }
}
