//! Batch what arrives in each fixed interval, one batch per key: `timed_window_by`.

use std::collections::HashMap;
use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use pin_project::pin_project;

use super::call_user;
use super::timed_window::{Intervals, Window, poll_windows};

/// Stream for [`StreamzExt::timed_window_by`](crate::StreamzExt::timed_window_by).
///
/// It runs the windows of [`TimedWindow`](super::TimedWindow); within a window, items are
/// grouped by key, the groups in the order their keys first came in that window.
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct TimedWindowBy<S: Stream, K, F> {
    #[pin]
    stream: S,
    intervals: Intervals,
    window: Groups<K, F, S::Item>,
    /// The upstream has ended and the last window is out.
    done: bool,
}

/// A window's items grouped by key, in the order the keys first came.
struct Groups<K, F, T> {
    key: F,
    index: HashMap<K, usize>,
    groups: Vec<(K, Vec<T>)>,
}

impl<K: Hash + Eq + Clone, F: FnMut(&T) -> K, T> Window<T> for Groups<K, F, T> {
    type Out = Vec<(K, Vec<T>)>;

    fn push(&mut self, x: T) {
        let key = call_user("timed_window_by", || (self.key)(&x));
        match self.index.get(&key) {
            Some(&i) => self.groups[i].1.push(x),
            None => {
                self.index.insert(key.clone(), self.groups.len());
                self.groups.push((key, vec![x]));
            }
        }
    }

    fn take(&mut self) -> Vec<(K, Vec<T>)> {
        self.index.clear();
        std::mem::take(&mut self.groups)
    }
}

impl<S: Stream, K, F> TimedWindowBy<S, K, F> {
    #[track_caller]
    pub(crate) fn new(stream: S, interval: Duration, key: F) -> Self {
        TimedWindowBy {
            stream,
            intervals: Intervals::new(interval, "timed_window_by"),
            window: Groups {
                key,
                index: HashMap::new(),
                groups: Vec::new(),
            },
            done: false,
        }
    }
}

impl<S, K, F> Stream for TimedWindowBy<S, K, F>
where
    S: Stream,
    K: Hash + Eq + Clone,
    F: FnMut(&S::Item) -> K,
{
    type Item = Vec<(K, Vec<S::Item>)>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        poll_windows(this.stream, this.intervals, this.done, this.window, cx)
    }
}

impl<S, K, F> std::fmt::Debug for TimedWindowBy<S, K, F>
where
    S: Stream + std::fmt::Debug,
    S::Item: std::fmt::Debug,
    K: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimedWindowBy")
            .field("stream", &self.stream)
            .field("interval", &self.intervals.interval())
            .field("window", &self.window.groups)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
