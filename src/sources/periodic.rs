//! A function's value at a fixed interval: streamz's `from_periodic`.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::time::{Interval, MissedTickBehavior};

use super::{SourceError, assert_nonzero_duration};

/// `f()` every `interval`: streamz's `from_periodic`.
///
/// The first value comes at the first poll, then one per tick of a tokio [`Interval`] whose
/// missed ticks are skipped ([`MissedTickBehavior::Skip`]): a slow consumer gets fewer values,
/// never a burst. `f` runs only when the stream is polled and a tick is due. The stream never
/// ends and never yields an `Err` (its items are `Result`s like every source's).
///
/// # Panics
/// If `interval` is zero.
///
/// ```
/// use rivulet::prelude::*;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let mut n = 0;
/// let ticks = rivulet::sources::from_periodic(std::time::Duration::from_secs(1), move || {
///     n += 1;
///     n
/// });
/// let values: Vec<i32> = ticks.take(3).map(Result::unwrap).collect().await;
/// assert_eq!(values, vec![1, 2, 3]);
/// # }
/// ```
#[track_caller]
pub fn from_periodic<T, F>(interval: Duration, f: F) -> Periodic<F>
where
    F: FnMut() -> T,
{
    assert_nonzero_duration(interval, "from_periodic", "interval");
    Periodic {
        interval,
        ticks: None,
        f,
    }
}

/// Stream of [`from_periodic`].
#[pin_project::pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct Periodic<F> {
    interval: Duration,
    /// Made at the first poll, which needs a tokio runtime.
    ticks: Option<Interval>,
    f: F,
}

impl<T, F: FnMut() -> T> Stream for Periodic<F> {
    type Item = Result<T, SourceError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let period = *this.interval;
        let ticks = this.ticks.get_or_insert_with(|| {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
            ticks
        });
        futures::ready!(ticks.poll_tick(cx));
        Poll::Ready(Some(Ok((this.f)())))
    }
}

impl<F> fmt::Debug for Periodic<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Periodic")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}
