//! Acknowledgements: know when an item, and everything derived from it, has left the pipeline.
//!
//! An [`Ack`] is a guard that stands for one item. Clones share it; when the last clone is
//! dropped the item is *done* and the callback given to [`Ack::new`] runs, once. An [`Acked<T>`]
//! carries a value together with its `Ack`, so the ordinary operators carry acknowledgements
//! without knowing about them: an item that [`retain`](crate::StreamzExt::retain) drops is done at
//! once, a batch of [`partition`](crate::StreamzExt::partition) is done when the batch is dropped,
//! a [`share`](crate::StreamzExt::share)d item is done when every branch has dropped its clone,
//! and [`combine_latest`](crate::StreamzExt::combine_latest) keeps an item until a newer one on
//! its side replaces it (streamz's `RefCounter` semantics, checkpoint vectors V76 to V81).
//!
//! A source that can replay commits a position only when every item up to it is done, in order;
//! [`Tracker`] does that bookkeeping, so a crash restarts from the last commit: at-least-once.
//!
//! ```
//! use rivulet::prelude::*;
//! use rivulet::ack::Tracker;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let tracker = Tracker::new();
//! let items: Vec<_> = (1..=4_u64).map(|i| tracker.acked(i, i * 10)).collect();
//! let kept = futures::stream::iter(items)
//!     .map(|item| item.map(|x| x * 2))
//!     .retain(|item| item.value > 4) // items 1 and 2 are dropped here, so they are done
//!     .sink_to_list();
//! let kept = kept.await.unwrap();
//! assert_eq!(tracker.committed(), Some(20)); // items 1 and 2 are done, 3 and 4 are held
//! drop(kept);
//! assert_eq!(tracker.committed(), Some(40));
//! # }
//! ```

use crate::util::lock;
use std::collections::VecDeque;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

/// A guard standing for one item: when the last clone is dropped, the item is done.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
///
/// let done = Arc::new(AtomicBool::new(false));
/// let flag = Arc::clone(&done);
/// let ack = rivulet::Ack::new(move || flag.store(true, Ordering::SeqCst));
/// let copy = ack.clone();
/// drop(ack);
/// assert!(!done.load(Ordering::SeqCst)); // a clone is still alive
/// drop(copy);
/// assert!(done.load(Ordering::SeqCst));
/// ```
#[derive(Clone)]
#[must_use = "dropping an `Ack` marks its item done at once"]
pub struct Ack {
    inner: Arc<AckInner>,
}

struct AckInner {
    on_done: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Drop for AckInner {
    fn drop(&mut self) {
        let on_done = self
            .on_done
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(on_done) = on_done {
            on_done();
        }
    }
}

impl Ack {
    /// An ack whose item is done, and `on_done` run, when the last clone is dropped.
    ///
    /// `on_done` runs on the thread that drops the last clone, inside that `drop`: keep it short
    /// and non-blocking (set a flag, send on a channel).
    ///
    /// ```
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let ack = rivulet::Ack::new(move || tx.send("done").unwrap());
    /// drop(ack);
    /// assert_eq!(rx.try_recv(), Ok("done"));
    /// ```
    pub fn new(on_done: impl FnOnce() + Send + 'static) -> Self {
        Ack {
            inner: Arc::new(AckInner {
                on_done: Mutex::new(Some(Box::new(on_done))),
            }),
        }
    }

    /// Gives up on the item: it will never be done, whoever still holds a clone, so a source
    /// that commits in order never commits past it and replays it after a restart (what a
    /// remote item lost with every worker gets).
    #[cfg(feature = "remote")]
    pub(crate) fn abandon(&self) {
        *self
            .inner
            .on_done
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }

    /// An ack that does nothing when done: for items of a source that cannot replay.
    ///
    /// ```
    /// let item = rivulet::Acked::new(5, rivulet::Ack::none());
    /// assert_eq!(*item, 5);
    /// ```
    pub fn none() -> Self {
        Ack::new(|| {})
    }

    /// How many clones of this ack are alive (this one included).
    ///
    /// ```
    /// let ack = rivulet::Ack::none();
    /// let copy = ack.clone();
    /// assert_eq!(ack.holders(), 2);
    /// drop(copy);
    /// assert_eq!(ack.holders(), 1);
    /// ```
    pub fn holders(&self) -> usize {
        Arc::strong_count(&self.inner)
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ack")
            .field("holders", &self.holders())
            .finish()
    }
}

/// A value with the [`Ack`] of the item it came from.
///
/// `Acked<T>` dereferences to `T`, so predicates and keys see the value; [`map`](Acked::map)
/// transforms it and keeps the ack. Cloning it (when `T: Clone`) shares the same ack, so the item
/// is done when every clone is gone.
///
/// ```
/// use rivulet::{Ack, Acked};
/// let item = Acked::new(String::from("hello"), Ack::none());
/// assert_eq!(item.len(), 5); // through Deref
/// let length = item.map(|s| s.len());
/// let (value, _ack) = length.into_parts();
/// assert_eq!(value, 5);
/// ```
#[derive(Debug, Clone)]
pub struct Acked<T> {
    /// The value.
    pub value: T,
    /// The acknowledgement of the item the value stands for.
    pub ack: Ack,
}

impl<T> Acked<T> {
    /// Pairs `value` with `ack`.
    ///
    /// ```
    /// let item = rivulet::Acked::new(1, rivulet::Ack::none());
    /// assert_eq!(item.value, 1);
    /// ```
    pub fn new(value: T, ack: Ack) -> Self {
        Acked { value, ack }
    }

    /// Transforms the value, keeping the ack.
    ///
    /// ```
    /// let item = rivulet::Acked::new(2, rivulet::Ack::none()).map(|x| x * 10);
    /// assert_eq!(item.value, 20);
    /// ```
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Acked<U> {
        Acked {
            value: f(self.value),
            ack: self.ack,
        }
    }

    /// The value and the ack, apart: the item is done when the returned ack (and its clones) drop.
    ///
    /// ```
    /// let (value, ack) = rivulet::Acked::new("x", rivulet::Ack::none()).into_parts();
    /// assert_eq!(value, "x");
    /// drop(ack); // done
    /// ```
    pub fn into_parts(self) -> (T, Ack) {
        (self.value, self.ack)
    }
}

impl<T> Deref for Acked<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

/// Commits positions in order: a position is committed once its item and every item handed out
/// before it are done.
///
/// Sources that can replay (a text file with a checkpoint, a broker's offsets) hand out one
/// [`Ack`] per item with [`track`](Tracker::track), in the order they read, each with the position
/// to commit once that item is done (for Kafka-style offsets, the next offset to read).
/// [`committed`](Tracker::committed) is the furthest position whose items are all done, and
/// [`watch`](Tracker::watch) reports it as it moves. Memory grows with the items handed out and
/// not yet committed, which the pipeline bounds. Clones share the same bookkeeping.
///
/// ```
/// let tracker = rivulet::ack::Tracker::new();
/// let first = tracker.track(1_u64);
/// let second = tracker.track(2_u64);
/// drop(second);
/// assert_eq!(tracker.committed(), None); // the first item is not done yet
/// drop(first);
/// assert_eq!(tracker.committed(), Some(2));
/// ```
#[derive(Clone)]
pub struct Tracker<P> {
    state: Arc<Mutex<TrackerState<P>>>,
    committed: Arc<tokio::sync::watch::Sender<Option<P>>>,
}

struct TrackerState<P> {
    /// Sequence number of `pending[0]`.
    base: u64,
    /// Items handed out and not yet committed, in order: their position and whether done.
    pending: VecDeque<(P, bool)>,
}

impl<P: Clone + Send + Sync + 'static> Tracker<P> {
    /// A tracker with nothing committed.
    ///
    /// ```
    /// let tracker = rivulet::ack::Tracker::<u64>::new();
    /// assert_eq!(tracker.committed(), None);
    /// ```
    pub fn new() -> Self {
        Self::starting_at(None)
    }

    /// A tracker whose committed position starts at `position` (one restored from a checkpoint).
    ///
    /// ```
    /// let tracker = rivulet::ack::Tracker::starting_at(Some(42_u64));
    /// assert_eq!(tracker.committed(), Some(42));
    /// ```
    pub fn starting_at(position: Option<P>) -> Self {
        Tracker {
            state: Arc::new(Mutex::new(TrackerState {
                base: 0,
                pending: VecDeque::new(),
            })),
            committed: Arc::new(tokio::sync::watch::Sender::new(position)),
        }
    }

    /// The ack of the next item, which commits `position` once it and every earlier item are done.
    ///
    /// ```
    /// let tracker = rivulet::ack::Tracker::new();
    /// drop(tracker.track("line 1 ends at byte 7"));
    /// assert_eq!(tracker.committed(), Some("line 1 ends at byte 7"));
    /// ```
    pub fn track(&self, position: P) -> Ack {
        let seq = {
            let mut state = lock(&self.state);
            state.pending.push_back((position, false));
            state.base + state.pending.len() as u64 - 1
        };
        let state = Arc::clone(&self.state);
        let committed = Arc::clone(&self.committed);
        Ack::new(move || done(&state, &committed, seq))
    }

    /// `value` with the ack of [`track(position)`](Tracker::track).
    ///
    /// ```
    /// let tracker = rivulet::ack::Tracker::new();
    /// let item = tracker.acked("a", 1_u64);
    /// assert_eq!(*item, "a");
    /// ```
    pub fn acked<T>(&self, value: T, position: P) -> Acked<T> {
        Acked::new(value, self.track(position))
    }

    /// The furthest position whose item, and every item before it, is done.
    ///
    /// ```
    /// let tracker = rivulet::ack::Tracker::<u64>::new();
    /// assert_eq!(tracker.committed(), None);
    /// ```
    pub fn committed(&self) -> Option<P> {
        self.committed.borrow().clone()
    }

    /// How many items are handed out and not yet committed.
    ///
    /// ```
    /// let tracker = rivulet::ack::Tracker::new();
    /// let ack = tracker.track(1_u64);
    /// assert_eq!(tracker.outstanding(), 1);
    /// drop(ack);
    /// assert_eq!(tracker.outstanding(), 0);
    /// ```
    pub fn outstanding(&self) -> usize {
        lock(&self.state).pending.len()
    }

    /// A receiver that sees the committed position change.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tracker = rivulet::ack::Tracker::new();
    /// let mut commits = tracker.watch();
    /// drop(tracker.track(5_u64));
    /// commits.changed().await.unwrap();
    /// assert_eq!(*commits.borrow(), Some(5));
    /// # }
    /// ```
    pub fn watch(&self) -> tokio::sync::watch::Receiver<Option<P>> {
        self.committed.subscribe()
    }
}

impl<P: Clone + Send + Sync + 'static> Default for Tracker<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: fmt::Debug> fmt::Debug for Tracker<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracker")
            .field("committed", &*self.committed.borrow())
            .field("outstanding", &lock(&self.state).pending.len())
            .finish()
    }
}

fn done<P: Clone>(
    state: &Mutex<TrackerState<P>>,
    committed: &tokio::sync::watch::Sender<Option<P>>,
    seq: u64,
) {
    let newest = {
        let mut state = lock(state);
        let Some(index) = seq.checked_sub(state.base) else {
            return;
        };
        if let Some(entry) = usize::try_from(index)
            .ok()
            .and_then(|i| state.pending.get_mut(i))
        {
            entry.1 = true;
        }
        let mut newest = None;
        while state.pending.front().is_some_and(|(_, done)| *done) {
            newest = state.pending.pop_front().map(|(p, _)| p);
            state.base += 1;
        }
        newest
    };
    if let Some(position) = newest {
        committed.send_replace(Some(position));
    }
}
