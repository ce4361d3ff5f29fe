//! Batch what arrives in each fixed interval, one item per key: streamz's `timed_window_unique`.

use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use pin_project::pin_project;

use super::timed_window::{Intervals, Window, poll_windows};
use super::unique_batch::UniqueBatch;
use super::{Keep, call_user};

/// Stream for [`StreamzExt::timed_window_unique`](crate::StreamzExt::timed_window_unique).
///
/// It runs the windows of [`TimedWindow`](super::TimedWindow); within a window, items with a key
/// already seen are merged as in [`partition_unique`](crate::StreamzExt::partition_unique).
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct TimedWindowUnique<S: Stream, K, F> {
    #[pin]
    stream: S,
    intervals: Intervals,
    window: KeyedWindow<K, F, S::Item>,
    /// The upstream has ended and the last window is out.
    done: bool,
}

/// A window holding one item per key, as [`Keep`] says.
struct KeyedWindow<K, F, T> {
    key: F,
    batch: UniqueBatch<K, T>,
}

impl<K: Hash + Eq, F: FnMut(&T) -> K, T> Window<T> for KeyedWindow<K, F, T> {
    type Out = Vec<T>;

    fn push(&mut self, x: T) {
        let key = call_user("timed_window_unique", || (self.key)(&x));
        self.batch.insert(key, x);
    }

    fn take(&mut self) -> Vec<T> {
        self.batch.take()
    }
}

impl<S: Stream, K: Hash + Eq, F> TimedWindowUnique<S, K, F> {
    #[track_caller]
    pub(crate) fn new(stream: S, interval: Duration, key: F, keep: Keep) -> Self {
        TimedWindowUnique {
            stream,
            intervals: Intervals::new(interval, "timed_window_unique"),
            window: KeyedWindow {
                key,
                batch: UniqueBatch::new(keep),
            },
            done: false,
        }
    }
}

impl<S, K, F> Stream for TimedWindowUnique<S, K, F>
where
    S: Stream,
    K: Hash + Eq,
    F: FnMut(&S::Item) -> K,
{
    type Item = Vec<S::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        poll_windows(this.stream, this.intervals, this.done, this.window, cx)
    }
}

impl<S, K, F> std::fmt::Debug for TimedWindowUnique<S, K, F>
where
    S: Stream + std::fmt::Debug,
    S::Item: std::fmt::Debug,
    K: Hash + Eq,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let window: Vec<_> = self.window.batch.items().collect();
        f.debug_struct("TimedWindowUnique")
            .field("stream", &self.stream)
            .field("interval", &self.intervals.interval())
            .field("window", &window)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
