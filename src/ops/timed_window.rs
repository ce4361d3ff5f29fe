//! Batch what arrives in each fixed interval: streamz's `timed_window`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use pin_project::pin_project;
use tokio::time::Instant;

use super::timer::{READY_BUDGET, Timer, assert_nonzero_duration, deadline_after};

/// The intervals of a window operator: a grid aligned to its creation, the first window closing
/// `interval` after it. Building one reads the clock but needs no runtime.
#[derive(Debug)]
pub(super) struct Intervals {
    interval: Duration,
    next_close: Instant,
    timer: Timer,
}

impl Intervals {
    #[track_caller]
    pub(super) fn new(interval: Duration, op: &str) -> Self {
        assert_nonzero_duration(interval, op, "dur");
        Intervals {
            interval,
            next_close: deadline_after(interval),
            timer: Timer::default(),
        }
    }

    pub(super) fn interval(&self) -> Duration {
        self.interval
    }

    /// Ready when the current window closes; the next one is then open.
    ///
    /// A consumer that falls more than an interval behind makes the operator miss whole
    /// intervals, in which it took nothing (it was not polled). Those are skipped, as tokio's
    /// `MissedTickBehavior::Skip` does, rather than caught up on as a burst of empty windows:
    /// a burst would come out faster than such a consumer takes it, so the window would never get
    /// back to taking items. The windows stay on the grid either way.
    pub(super) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        futures::ready!(self.timer.poll_until(self.next_close, cx));
        self.next_close += self.interval;
        let now = Instant::now();
        if self.next_close <= now {
            let behind = (now - self.next_close).as_nanos();
            let step = self.interval.as_nanos();
            let skip = (behind / step + 1) * step;
            // `skip` is at most `behind` plus one interval; a gap of u64::MAX ns is 584 years.
            self.next_close += Duration::from_nanos(u64::try_from(skip).unwrap_or(u64::MAX));
        }
        Poll::Ready(())
    }
}

/// What a window collects: every item, one per key, or a batch per key.
pub(super) trait Window<T> {
    type Out;
    fn push(&mut self, x: T);
    fn take(&mut self) -> Self::Out;
}

impl<T> Window<T> for Vec<T> {
    type Out = Vec<T>;

    fn push(&mut self, x: T) {
        Vec::push(self, x);
    }

    fn take(&mut self) -> Vec<T> {
        std::mem::take(self)
    }
}

/// The loop both window operators run.
///
/// It takes every item that is ready before it looks at the clock, so it always comes back for
/// the next item at once: a rendezvous `emit` upstream returns as soon as the window holds its
/// item, even when a slow consumer made a window overdue. `done` is set once the upstream has
/// ended and the last window is out.
pub(super) fn poll_windows<S: Stream, W: Window<S::Item>>(
    mut stream: Pin<&mut S>,
    intervals: &mut Intervals,
    done: &mut bool,
    window: &mut W,
    cx: &mut Context<'_>,
) -> Poll<Option<W::Out>> {
    if *done {
        return Poll::Ready(None);
    }
    let mut taken = 0;
    while taken < READY_BUDGET {
        match stream.as_mut().poll_next(cx) {
            Poll::Ready(Some(x)) => {
                window.push(x);
                taken += 1;
            }
            Poll::Ready(None) => {
                *done = true;
                return Poll::Ready(Some(window.take()));
            }
            Poll::Pending => break,
        }
    }
    if intervals.poll_close(cx).is_ready() {
        return Poll::Ready(Some(window.take()));
    }
    if taken == READY_BUDGET {
        // More may be ready upstream, and nothing else would wake us for it.
        cx.waker().wake_by_ref();
    }
    Poll::Pending
}

/// Stream for [`StreamzExt::timed_window`](crate::StreamzExt::timed_window).
///
/// It takes items as they come and holds them until their window closes.
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct TimedWindow<S: Stream> {
    #[pin]
    stream: S,
    intervals: Intervals,
    window: Vec<S::Item>,
    /// The upstream has ended and the last window is out.
    done: bool,
}

impl<S: Stream> TimedWindow<S> {
    #[track_caller]
    pub(crate) fn new(stream: S, interval: Duration) -> Self {
        TimedWindow {
            stream,
            intervals: Intervals::new(interval, "timed_window"),
            window: Vec::new(),
            done: false,
        }
    }
}

impl<S: Stream> Stream for TimedWindow<S> {
    type Item = Vec<S::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        poll_windows(this.stream, this.intervals, this.done, this.window, cx)
    }
}

impl<S> std::fmt::Debug for TimedWindow<S>
where
    S: Stream + std::fmt::Debug,
    S::Item: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimedWindow")
            .field("stream", &self.stream)
            .field("interval", &self.intervals.interval)
            .field("next_close", &self.intervals.next_close)
            .field("window", &self.window)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
