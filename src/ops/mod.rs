//! Local operators: [`StreamzExt`], implemented for every [`futures::Stream`], one family per file.

use futures::Stream;

use crate::sink::{ListSink, SinkHandle, spawn_sink};

mod accumulate;
mod buffer;
mod collect_until;
mod combine_latest;
mod debounce;
mod delay;
mod event_fixed;
mod event_session;
mod event_time;
mod filter;
mod flatten_iter;
pub(crate) mod forwarder;
mod frequencies;
mod keep;
mod latest;
mod map_async;
mod partition;
mod partition_by;
mod partition_timeout;
mod partition_unique;
mod rate_limit;
mod sample;
mod session_window;
mod share;
mod sliding_window;
mod throttle;
mod timed_window;
mod timed_window_by;
mod timed_window_unique;
mod timer;
mod try_map;
mod try_retain;
mod union;
mod unique;
mod unique_batch;
mod zip;
mod zip_latest;
// @modules (keep this line: operator modules are added above it)

pub use accumulate::Accumulate;
pub use buffer::Buffer;
pub use collect_until::CollectUntil;
pub use combine_latest::{CombineLatest, CombineLatest3, CombineLatestAll, EmitOn};
pub use debounce::Debounce;
pub use delay::Delay;
pub use event_fixed::{SlidingWindows, TumblingWindows};
pub use event_session::SessionWindows;
pub use event_time::{EventTime, Timestamp, Unkeyed, Windowed};
pub use filter::Retain;
pub use flatten_iter::FlattenIter;
pub use frequencies::Frequencies;
pub use keep::Keep;
pub use latest::Latest;
pub use map_async::MapAsync;
pub use partition::Partition;
pub use partition_by::PartitionBy;
pub use partition_timeout::PartitionTimeout;
pub use partition_unique::PartitionUnique;
pub use rate_limit::RateLimit;
pub use sample::Sample;
pub use session_window::SessionWindow;
pub use share::Share;
pub use sliding_window::SlidingWindow;
pub use throttle::Throttle;
pub use timed_window::TimedWindow;
pub use timed_window_by::TimedWindowBy;
pub use timed_window_unique::TimedWindowUnique;
pub use try_map::{Errors, TryMap};
pub use try_retain::TryRetain;
pub use union::{Union, UnionAll};
pub use unique::{Unique, UniqueBy};
pub use zip::{Zip, Zip3, ZipAll};
pub use zip_latest::ZipLatest;
// @exports (keep this line: operator types are re-exported above it)

pub(crate) use crate::util::{assert_nonzero, call_user};

/// streamz's operators on every [`futures::Stream`].
///
/// Method names never clash with [`futures::StreamExt`], so both traits can be in scope (the
/// [`prelude`](crate::prelude) brings both). Closures are plain synchronous `FnMut`. A panic in a
/// closure ends the pipeline with an [`Error`](crate::Error) naming the operator, reported by the
/// [`SinkHandle`] that drives it.
///
/// ```
/// use rivulet::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let source = Source::new();
/// let evens = source.stream().retain(|x: &i32| x % 2 == 0).sink_to_list();
/// for x in 0..10 {
///     source.emit(x).await.unwrap();
/// }
/// assert_eq!(evens.snapshot(), vec![0, 2, 4, 6, 8]);
/// # }
/// ```
pub trait StreamzExt: Stream {
    /// Keeps the items for which `pred` is true (streamz's `filter`).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let kept: Vec<i32> = futures::stream::iter(0..10).retain(|x| x % 2 == 0).collect().await;
    /// assert_eq!(kept, vec![0, 2, 4, 6, 8]);
    /// # });
    /// ```
    fn retain<F>(self, pred: F) -> Retain<Self, F>
    where
        Self: Sized,
        F: FnMut(&Self::Item) -> bool,
    {
        Retain::new(self, pred, true)
    }

    /// Drops the items for which `pred` is true (streamz's `remove`).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let odd: Vec<i32> = futures::stream::iter(0..10).remove(|x| x % 2 == 0).collect().await;
    /// assert_eq!(odd, vec![1, 3, 5, 7, 9]);
    /// # });
    /// ```
    fn remove<F>(self, pred: F) -> Retain<Self, F>
    where
        Self: Sized,
        F: FnMut(&Self::Item) -> bool,
    {
        Retain::new(self, pred, false)
    }

    /// Emits the contents of each item, which is any [`IntoIterator`] (streamz's `flatten`).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let batches = futures::stream::iter(vec![vec![1, 2], vec![], vec![3]]);
    /// assert_eq!(batches.flatten_iter().collect::<Vec<_>>().await, vec![1, 2, 3]);
    /// # });
    /// ```
    fn flatten_iter(self) -> FlattenIter<Self>
    where
        Self: Sized,
        Self::Item: IntoIterator,
    {
        FlattenIter::new(self)
    }

    /// A [`Clone`]able stream: every clone gets every item, and the upstream is pulled for the
    /// next item only once every clone has come back for it, so the slowest branch sets the pace
    /// (streamz's several downstreams of one node).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let source = Source::new();
    /// let shared = source.stream().map(|x: i32| x * 10).share();
    /// let plus_one = shared.clone().map(|x| x + 1).sink_to_list();
    /// let minus_one = shared.map(|x| x - 1).sink_to_list();
    /// source.emit(1).await.unwrap();
    /// assert_eq!(plus_one.snapshot(), vec![11]);
    /// assert_eq!(minus_one.snapshot(), vec![9]);
    /// # }
    /// ```
    fn share(self) -> Share<Self>
    where
        Self: Sized,
        Self::Item: Clone,
    {
        Share::new(self)
    }

    /// Folds each item into a state and emits what `f` returns (streamz's `accumulate`, also
    /// known as `scan`).
    ///
    /// `f` gets the state mutably and the item, updates the state and returns the value to emit,
    /// which covers streamz's `returns_state=True` as well: the state and the output are separate.
    /// Unlike streamz there is always an `init`; streamz's default, where the first item becomes
    /// the state and is emitted as is, is an `Option` state that `f` fills from the first item.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let totals: Vec<i32> = futures::stream::iter(1..=4)
    ///     .accumulate(0, |total, x| {
    ///         *total += x;
    ///         *total
    ///     })
    ///     .collect()
    ///     .await;
    /// assert_eq!(totals, vec![1, 3, 6, 10]);
    /// # });
    /// ```
    fn accumulate<St, F, U>(self, init: St, f: F) -> Accumulate<Self, St, F>
    where
        Self: Sized,
        F: FnMut(&mut St, Self::Item) -> U,
    {
        Accumulate::new(self, init, f)
    }

    /// Groups items into `Vec`s of `n` (streamz's `partition`). When the upstream ends, the items
    /// of an incomplete batch come out as one last, shorter batch.
    ///
    /// # Panics
    /// If `n` is 0.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let batches: Vec<Vec<i32>> = futures::stream::iter(0..7).partition(3).collect().await;
    /// assert_eq!(batches, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
    /// # });
    /// ```
    #[track_caller]
    fn partition(self, n: usize) -> Partition<Self>
    where
        Self: Sized,
    {
        Partition::new(self, n)
    }

    /// Groups items into `Vec`s of `n` items with the same key (streamz's `partition` with
    /// `key=`): each key fills its own batch, which comes out as soon as it holds `n` items.
    ///
    /// When the upstream ends, the incomplete batches come out, oldest first: in the order their
    /// keys were first seen since each key's last full batch. A key is forgotten once its batch
    /// is emitted, so what this holds is bounded by the keys with an incomplete batch.
    ///
    /// # Panics
    /// If `n` is 0.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let batches: Vec<Vec<i32>> =
    ///     futures::stream::iter(1..=7).partition_by(2, |x| x % 2).collect().await;
    /// // 6 waits for a partner until the end.
    /// assert_eq!(batches, vec![vec![1, 3], vec![2, 4], vec![5, 7], vec![6]]);
    /// # });
    /// ```
    #[track_caller]
    fn partition_by<K, F>(self, n: usize, key: F) -> PartitionBy<Self, K, F>
    where
        Self: Sized,
        K: std::hash::Hash + Eq,
        F: FnMut(&Self::Item) -> K,
    {
        PartitionBy::new(self, n, key)
    }

    /// Collects items until the batch holds `n` distinct keys, then emits it (streamz's
    /// `partition_unique`).
    ///
    /// An item whose key is already in the batch is dropped with [`Keep::First`]; with
    /// [`Keep::Last`] it replaces the earlier item, and moves to the end of the batch. When the
    /// upstream ends, an incomplete batch comes out as one last, shorter batch.
    ///
    /// # Panics
    /// If `n` is 0.
    ///
    /// ```
    /// use rivulet::ops::Keep;
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let items = [1, 2, 1, 3, 1, 3, 3, 2];
    /// let first: Vec<Vec<i32>> = futures::stream::iter(items)
    ///     .partition_unique(3, |x| *x, Keep::First)
    ///     .collect()
    ///     .await;
    /// assert_eq!(first, vec![vec![1, 2, 3], vec![1, 3, 2]]);
    /// let last: Vec<Vec<i32>> = futures::stream::iter(items)
    ///     .partition_unique(3, |x| *x, Keep::Last)
    ///     .collect()
    ///     .await;
    /// assert_eq!(last, vec![vec![2, 1, 3], vec![1, 3, 2]]);
    /// # });
    /// ```
    #[track_caller]
    fn partition_unique<K, F>(self, n: usize, key: F, keep: Keep) -> PartitionUnique<Self, K, F>
    where
        Self: Sized,
        K: std::hash::Hash + Eq,
        F: FnMut(&Self::Item) -> K,
    {
        PartitionUnique::new(self, n, key, keep)
    }

    /// After each item, emits the last `n` items, oldest first (streamz's `sliding_window`).
    ///
    /// With `partial` (streamz's default, `return_partial=True`) the first `n - 1` items emit the
    /// shorter windows they make; without it the first window comes with the `n`-th item.
    ///
    /// # Panics
    /// If `n` is 0.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let items = || futures::stream::iter(0..4);
    /// let partial: Vec<Vec<i32>> = items().sliding_window(3, true).collect().await;
    /// assert_eq!(partial, vec![vec![0], vec![0, 1], vec![0, 1, 2], vec![1, 2, 3]]);
    /// let full: Vec<Vec<i32>> = items().sliding_window(3, false).collect().await;
    /// assert_eq!(full, vec![vec![0, 1, 2], vec![1, 2, 3]]);
    /// # });
    /// ```
    #[track_caller]
    fn sliding_window(self, n: usize, partial: bool) -> SlidingWindow<Self>
    where
        Self: Sized,
        Self::Item: Clone,
    {
        SlidingWindow::new(self, n, partial)
    }

    /// Drops every item equal to an earlier one (streamz's `unique`).
    ///
    /// It remembers every distinct item for the life of the stream;
    /// [`unique_recent`](StreamzExt::unique_recent) bounds that memory.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let firsts: Vec<i32> = futures::stream::iter([1, 2, 1, 3, 2]).unique().collect().await;
    /// assert_eq!(firsts, vec![1, 2, 3]);
    /// # });
    /// ```
    fn unique(self) -> Unique<Self>
    where
        Self: Sized,
        Self::Item: std::hash::Hash + Eq + Clone,
    {
        let key: fn(&Self::Item) -> Self::Item = Clone::clone;
        UniqueBy::new(self, key, "unique")
    }

    /// Drops every item whose key was the key of an earlier item (streamz's `unique` with
    /// `key=`). It remembers every distinct key for the life of the stream;
    /// [`unique_recent_by`](StreamzExt::unique_recent_by) bounds that memory.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let words = futures::stream::iter(["a", "bb", "c", "dd", "eee"]);
    /// let by_length: Vec<&str> = words.unique_by(|w| w.len()).collect().await;
    /// assert_eq!(by_length, vec!["a", "bb", "eee"]);
    /// # });
    /// ```
    fn unique_by<K, F>(self, key: F) -> UniqueBy<Self, K, F>
    where
        Self: Sized,
        K: std::hash::Hash + Eq + Clone,
        F: FnMut(&Self::Item) -> K,
    {
        UniqueBy::new(self, key, "unique_by")
    }

    /// Drops every item equal to one of the `maxsize` most recently seen (streamz's `unique`
    /// with `maxsize=`).
    ///
    /// Every item, emitted or dropped, makes its value the most recent one; once more than
    /// `maxsize` values are remembered, the least recent is forgotten, and the next item equal
    /// to it passes again.
    ///
    /// # Panics
    /// If `maxsize` is 0.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let items = futures::stream::iter([1, 2, 1, 2, 3, 2, 1, 2, 3]);
    /// let kept: Vec<i32> = items.unique_recent(2).collect().await;
    /// // The repeats of 2 keep it recent, so each new value pushes out the other one.
    /// assert_eq!(kept, vec![1, 2, 3, 1, 3]);
    /// # });
    /// ```
    #[track_caller]
    fn unique_recent(self, maxsize: usize) -> Unique<Self>
    where
        Self: Sized,
        Self::Item: std::hash::Hash + Eq + Clone,
    {
        let key: fn(&Self::Item) -> Self::Item = Clone::clone;
        UniqueBy::recent(self, maxsize, key, "unique_recent")
    }

    /// Drops every item whose key is one of the `maxsize` most recently seen keys (streamz's
    /// `unique` with `key=` and `maxsize=`); keys are remembered as in
    /// [`unique_recent`](StreamzExt::unique_recent).
    ///
    /// # Panics
    /// If `maxsize` is 0.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let items = futures::stream::iter([1, 2, 4, 6, 3]);
    /// let kept: Vec<i32> = items.unique_recent_by(1, |x| x % 2).collect().await;
    /// assert_eq!(kept, vec![1, 2, 3]);
    /// # });
    /// ```
    #[track_caller]
    fn unique_recent_by<K, F>(self, maxsize: usize, key: F) -> UniqueBy<Self, K, F>
    where
        Self: Sized,
        K: std::hash::Hash + Eq + Clone,
        F: FnMut(&Self::Item) -> K,
    {
        UniqueBy::recent(self, maxsize, key, "unique_recent_by")
    }

    /// After each item, emits how many times each distinct item has been seen so far (streamz's
    /// `frequencies`): a fresh copy of the running counts.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let counts: Vec<HashMap<&str, usize>> =
    ///     futures::stream::iter(["a", "b", "a"]).frequencies().collect().await;
    /// assert_eq!(counts.last(), Some(&HashMap::from([("a", 2), ("b", 1)])));
    /// # });
    /// ```
    fn frequencies(self) -> Frequencies<Self>
    where
        Self: Sized,
        Self::Item: std::hash::Hash + Eq + Clone,
    {
        Frequencies::new(self)
    }

    /// The items of `self` and `other` as they come (streamz's `union`).
    ///
    /// Neither input starves the other: they take turns being polled first. It ends when both
    /// have ended. For three or more inputs of one type, or a `Vec` of boxed streams, use the free
    /// function [`union`](crate::union).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (a, b) = (Source::new(), Source::new());
    /// let both = a.stream().union(b.stream()).sink_to_list();
    /// a.emit(1).await.unwrap();
    /// b.emit(2).await.unwrap();
    /// a.emit(3).await.unwrap();
    /// assert_eq!(both.snapshot(), vec![1, 2, 3]);
    /// # }
    /// ```
    fn union<B>(self, other: B) -> Union<Self, B>
    where
        Self: Sized,
        B: crate::LocalStream<Item = Self::Item>,
    {
        Union::new(self, other)
    }

    /// Pairs the items of `self` and `other` in order (streamz's `zip`).
    ///
    /// Unlike [`futures::StreamExt::zip`], which holds one item and stops polling that side (so
    /// emitting into two rendezvous [`Source`](crate::Source)s in turn from one task deadlocks), it
    /// comes back to a side right after taking from it, as streamz does with `maxsize=10`: each side
    /// holds up to **10** unmatched items with their emits complete; an 11th is taken, but its
    /// `emit` waits until the other side catches up. A pair goes out before the side that completed
    /// it is polled again, so that emit returns once the pair has been processed.
    ///
    /// It ends when a side has ended and all its items are paired; the other side's unmatched
    /// items are dropped then. For three inputs see [`zip3`], for more [`zip_all`].
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (a, b) = (Source::new(), Source::new());
    /// let pairs = a.stream().zip_with(b.stream()).sink_to_list();
    /// a.emit(1).await.unwrap(); // held: no deadlock, although b has nothing yet
    /// a.emit(2).await.unwrap();
    /// b.emit('x').await.unwrap();
    /// assert_eq!(pairs.snapshot(), vec![(1, 'x')]);
    /// b.emit('y').await.unwrap();
    /// assert_eq!(pairs.snapshot(), vec![(1, 'x'), (2, 'y')]);
    /// # }
    /// ```
    ///
    /// `other` must be a local stream of values; anything else does not compile:
    ///
    /// ```compile_fail
    /// use rivulet::prelude::*;
    /// let _ = futures::stream::iter([1]).zip_with(vec![2]);
    /// ```
    fn zip_with<B, U>(self, other: B) -> Zip<Self, B>
    where
        Self: Sized,
        B: crate::LocalStream<Item = U>,
    {
        Zip::new(self, other)
    }

    /// Pairs the latest item of `self` with the latest of `other`, on every item of either once
    /// both have given one (streamz's `combine_latest`).
    ///
    /// It always keeps taking from both inputs (it holds only the latest of each). It ends when
    /// both inputs have ended; an input that ends keeps its last item for the pairs still to come.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (a, b) = (Source::new(), Source::new());
    /// let latest = a.stream().combine_latest(b.stream()).sink_to_list();
    /// a.emit(1).await.unwrap();
    /// a.emit(2).await.unwrap();
    /// b.emit('x').await.unwrap();
    /// a.emit(3).await.unwrap();
    /// assert_eq!(latest.snapshot(), vec![(2, 'x'), (3, 'x')]);
    /// # }
    /// ```
    fn combine_latest<B, U>(self, other: B) -> CombineLatest<Self, B>
    where
        Self: Sized,
        Self::Item: Clone,
        B: crate::LocalStream<Item = U>,
        U: Clone,
    {
        CombineLatest::new(self, other, EmitOn::Both)
    }

    /// [`combine_latest`](StreamzExt::combine_latest) that emits only on the items of the
    /// [`EmitOn`] side(s) (streamz's `combine_latest(emit_on=)`); the other side's items only
    /// update its latest value.
    ///
    /// ```
    /// use rivulet::ops::EmitOn;
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (a, b) = (Source::new(), Source::new());
    /// let latest = a.stream().combine_latest_on(b.stream(), EmitOn::Left).sink_to_list();
    /// a.emit(1).await.unwrap();
    /// b.emit('x').await.unwrap(); // not an emitting side
    /// a.emit(2).await.unwrap();
    /// b.emit('y').await.unwrap();
    /// assert_eq!(latest.snapshot(), vec![(2, 'x')]);
    /// # }
    /// ```
    fn combine_latest_on<B, U>(self, other: B, emit_on: EmitOn) -> CombineLatest<Self, B>
    where
        Self: Sized,
        Self::Item: Clone,
        B: crate::LocalStream<Item = U>,
        U: Clone,
    {
        CombineLatest::new(self, other, emit_on)
    }

    /// Pairs every item of `self` with the latest item of `other` (streamz's `zip_latest`).
    ///
    /// Nothing is lost: items of `self` that come before `other`'s first item wait (in a buffer
    /// that is **unbounded** until then) and go out with it. It ends when `self` has ended and
    /// all its items are out, or when `other` ends without ever giving an item.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (a, b) = (Source::new(), Source::new());
    /// let pairs = a.stream().zip_latest(b.stream()).sink_to_list();
    /// a.emit(1).await.unwrap();
    /// a.emit(2).await.unwrap();
    /// b.emit('x').await.unwrap();
    /// b.emit('y').await.unwrap();
    /// a.emit(3).await.unwrap();
    /// assert_eq!(pairs.snapshot(), vec![(1, 'x'), (2, 'x'), (3, 'y')]);
    /// # }
    /// ```
    fn zip_latest<B, U>(self, other: B) -> ZipLatest<Self, B>
    where
        Self: Sized,
        B: crate::LocalStream<Item = U>,
        U: Clone,
    {
        ZipLatest::new(self, other)
    }

    /// Caches the items and emits them as one `Vec` each time `flush` yields (streamz's
    /// `collect` with its `flush`); a flush with nothing cached emits an empty `Vec`.
    ///
    /// The cache is unbounded. When `self` ends, what is still cached comes out as a last `Vec`
    /// (if any) and the stream ends; when `flush` ends first, the rest comes out when `self` ends.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (items, flush) = (Source::new(), Source::new());
    /// let batches = items.stream().collect_until(flush.stream()).sink_to_list();
    /// items.emit(1).await.unwrap();
    /// items.emit(2).await.unwrap();
    /// flush.emit(()).await.unwrap();
    /// flush.emit(()).await.unwrap();
    /// assert_eq!(batches.snapshot(), vec![vec![1, 2], vec![]]);
    /// # }
    /// ```
    fn collect_until<F>(self, flush: F) -> CollectUntil<Self, F>
    where
        Self: Sized,
        F: crate::LocalStream,
    {
        CollectUntil::new(self, flush)
    }

    /// Runs the upstream ahead in a task of its own, holding at most `n` items for a slow
    /// consumer (streamz's `buffer`). With a rendezvous [`Source`](crate::Source) upstream,
    /// exactly `n` emits complete ahead of a busy consumer.
    ///
    /// The task starts at the first poll, which must happen inside a tokio runtime; it is
    /// aborted when the stream is dropped. A panic upstream is raised again in the consumer.
    ///
    /// # Panics
    /// If `n` is 0 (`n` must be at least 1): a queue of nothing would never let an item through.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let source = Source::new();
    /// let list = source
    ///     .stream()
    ///     .buffer(2)
    ///     .then(|x: u32| async move {
    ///         tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    ///         x
    ///     })
    ///     .sink_to_list();
    /// let start = tokio::time::Instant::now();
    /// for x in 0..3 {
    ///     source.emit(x).await.unwrap(); // the sink is busy with 0; 1 and 2 wait in the buffer
    /// }
    /// assert_eq!(start.elapsed(), std::time::Duration::ZERO);
    /// source.close();
    /// assert_eq!(list.await.unwrap(), vec![0, 1, 2]);
    /// # }
    /// ```
    #[track_caller]
    fn buffer(self, n: usize) -> Buffer<Self>
    where
        Self: Sized + Send + 'static,
        Self::Item: Send + 'static,
    {
        assert_nonzero(n, "buffer", "n");
        Buffer::new(self, n)
    }

    /// Pulls the upstream eagerly in a task of its own; when the consumer is slow only the
    /// newest item waits, and the last item is never lost (streamz's `latest`).
    ///
    /// The task starts at the first poll, which must happen inside a tokio runtime; it is
    /// aborted when the stream is dropped. A panic upstream is raised again in the consumer.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let newest: Vec<i32> = futures::stream::iter(0..5).latest().collect().await;
    /// assert_eq!(newest.last(), Some(&4));
    /// # }
    /// ```
    fn latest(self) -> Latest<Self>
    where
        Self: Sized + Send + 'static,
        Self::Item: Send + 'static,
    {
        Latest::new(self)
    }

    /// Batches of `n` items, like [`partition`](StreamzExt::partition), but a batch that is not
    /// full `dur` after its first item comes out as it is (streamz's `partition(n, timeout=)`).
    /// A partial batch also comes out when the upstream ends.
    ///
    /// # Panics
    /// If `n` is 0 or `dur` is zero (each must be at least 1).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let source = Source::new();
    /// let list = source.stream().partition_timeout(3, Duration::from_millis(100)).sink_to_list();
    /// for x in 0..4 {
    ///     source.emit(x).await.unwrap();
    /// }
    /// assert_eq!(list.snapshot(), vec![vec![0, 1, 2]]);
    /// tokio::time::sleep(Duration::from_millis(150)).await;
    /// assert_eq!(list.snapshot(), vec![vec![0, 1, 2], vec![3]]);
    /// # }
    /// ```
    #[track_caller]
    fn partition_timeout(self, n: usize, dur: std::time::Duration) -> PartitionTimeout<Self>
    where
        Self: Sized,
    {
        PartitionTimeout::new(self, n, dur)
    }

    /// A `Vec` of what arrived in each interval of `dur`, empty ones too (streamz's
    /// `timed_window`). Intervals are aligned to this call: the first closes `dur` later. When
    /// the upstream ends, what arrived since the last window comes out as a last one. Items are
    /// taken as they come, so a rendezvous `emit` upstream returns at once.
    ///
    /// A consumer slower than `dur` holds the windows back: items emitted meanwhile wait
    /// upstream and go into the overdue window, which comes out when the consumer is back.
    /// Intervals missed entirely are skipped, so the windows stay on the grid.
    ///
    /// # Panics
    /// If `dur` is zero (`dur` must be at least 1ns).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let source = Source::new();
    /// let list = source.stream().timed_window(Duration::from_secs(1)).sink_to_list();
    /// source.emit(1).await.unwrap();
    /// source.emit(2).await.unwrap();
    /// tokio::time::sleep(Duration::from_millis(1500)).await;
    /// source.emit(3).await.unwrap();
    /// tokio::time::sleep(Duration::from_secs(1)).await;
    /// assert_eq!(list.snapshot(), vec![vec![1, 2], vec![3]]);
    /// # }
    /// ```
    #[track_caller]
    fn timed_window(self, dur: std::time::Duration) -> TimedWindow<Self>
    where
        Self: Sized,
    {
        TimedWindow::new(self, dur)
    }

    /// [`timed_window`](StreamzExt::timed_window) keeping one item per key in each window, the
    /// first or the last as `keep` says (streamz's `timed_window_unique`).
    ///
    /// # Panics
    /// If `dur` is zero (`dur` must be at least 1ns).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use rivulet::ops::Keep;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let source = Source::new();
    /// let list = source
    ///     .stream()
    ///     .timed_window_unique(Duration::from_secs(1), |x: &i32| *x, Keep::First)
    ///     .sink_to_list();
    /// for x in [1, 2, 1, 3] {
    ///     source.emit(x).await.unwrap();
    /// }
    /// tokio::time::sleep(Duration::from_millis(1500)).await;
    /// assert_eq!(list.snapshot(), vec![vec![1, 2, 3]]);
    /// # }
    /// ```
    #[track_caller]
    fn timed_window_unique<K, F>(
        self,
        dur: std::time::Duration,
        key: F,
        keep: Keep,
    ) -> TimedWindowUnique<Self, K, F>
    where
        Self: Sized,
        K: std::hash::Hash + Eq,
        F: FnMut(&Self::Item) -> K,
    {
        TimedWindowUnique::new(self, dur, key, keep)
    }

    /// Lets each item out `dur` after it came in, keeping order (streamz's `delay`, as a true
    /// delay). Items are taken as they come, so a rendezvous `emit` upstream returns at once.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let source = Source::new();
    /// let list = source.stream().delay(Duration::from_millis(20)).sink_to_list();
    /// source.emit(1).await.unwrap(); // returns at once: `delay` holds the item
    /// assert!(list.is_empty());
    /// tokio::time::sleep(Duration::from_millis(25)).await;
    /// assert_eq!(list.snapshot(), vec![1]);
    /// # }
    /// ```
    fn delay(self, dur: std::time::Duration) -> Delay<Self>
    where
        Self: Sized,
    {
        Delay::new(self, dur)
    }

    /// At least `dur` between outputs; back-pressure, never drops (streamz's `rate_limit`). While
    /// it waits it does not pull its upstream, so a rendezvous `emit` upstream waits too. The
    /// first item passes at once.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let source = Source::new();
    /// let list = source.stream().rate_limit(Duration::from_millis(50)).sink_to_list();
    /// let start = tokio::time::Instant::now();
    /// for x in 0..5 {
    ///     source.emit(x).await.unwrap();
    /// }
    /// // The items pass at 0, 50, ... 200 ms; each emit returns when the next is asked for.
    /// assert_eq!(start.elapsed(), Duration::from_millis(250));
    /// assert_eq!(list.len(), 5);
    /// # }
    /// ```
    fn rate_limit(self, dur: std::time::Duration) -> RateLimit<Self>
    where
        Self: Sized,
    {
        RateLimit::new(self, dur)
    }

    /// Tags each item with its own time, `ts_fn(&item)`, and follows a watermark: the largest
    /// timestamp seen minus `max_delay` (saturating). On the [`EventTime`] it returns, choose
    /// [`tumbling`](EventTime::tumbling), [`sliding`](EventTime::sliding) or
    /// [`session`](EventTime::session) windows, each optionally `keyed` and with
    /// `allowed_lateness`; they yield [`Windowed`] values.
    ///
    /// A window comes out once the watermark is strictly past its end plus the allowed lateness;
    /// windows that close together come out in order of end, then key. An item whose windows
    /// have all closed comes out as [`Windowed::Late`]: nothing is dropped. When the upstream
    /// ends, every open window comes out. With [`idle_timeout`](EventTime::idle_timeout) a
    /// quiet upstream does not hold its windows open. Timestamps are any [`Timestamp`]: `u64`,
    /// `i64` (spans of the same type) or [`SystemTime`](std::time::SystemTime) (spans are
    /// `Duration`s).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use rivulet::Windowed;
    /// # futures::executor::block_on(async {
    /// // Readings (time, value) out of order by up to 5.
    /// let readings = futures::stream::iter([(1_u64, 'a'), (12, 'b'), (8, 'c'), (30, 'd'), (2, 'e')]);
    /// let out: Vec<Windowed<(u64, char)>> =
    ///     readings.event_time(|r| r.0, 5).tumbling(10).collect().await;
    /// assert_eq!(
    ///     out,
    ///     vec![
    ///         // 30 moves the watermark to 25, past [0, 10) and [10, 20).
    ///         Windowed::Window { start: 0, end: 10, key: (), items: vec![(1, 'a'), (8, 'c')] },
    ///         Windowed::Window { start: 10, end: 20, key: (), items: vec![(12, 'b')] },
    ///         Windowed::Late((2, 'e')),
    ///         Windowed::Window { start: 30, end: 40, key: (), items: vec![(30, 'd')] },
    ///     ]
    /// );
    /// # });
    /// ```
    fn event_time<F, Ts>(self, ts_fn: F, max_delay: Ts::Delta) -> EventTime<Self, F, Ts>
    where
        Self: Sized,
        F: FnMut(&Self::Item) -> Ts,
        Ts: Timestamp,
    {
        EventTime::new(self, ts_fn, max_delay)
    }

    /// Lets an item out once `dur` has passed without a newer one; the newest wins (ReactiveX's
    /// `debounce`). Items are taken as they come, so a rendezvous `emit` upstream returns at
    /// once; a burst of items closer than `dur` apart comes out as its last item, `dur` after it.
    /// When the upstream ends, a held item comes out at once.
    ///
    /// # Panics
    /// If `dur` is zero (`dur` must be at least 1ns).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let source = Source::new();
    /// let list = source.stream().debounce(Duration::from_millis(100)).sink_to_list();
    /// for x in 0..3 {
    ///     source.emit(x).await.unwrap(); // a burst: each replaces the one before
    ///     tokio::time::sleep(Duration::from_millis(10)).await;
    /// }
    /// tokio::time::sleep(Duration::from_millis(200)).await;
    /// source.emit(3).await.unwrap();
    /// source.close();
    /// assert_eq!(list.await.unwrap(), vec![2, 3]);
    /// # }
    /// ```
    #[track_caller]
    fn debounce(self, dur: std::time::Duration) -> Debounce<Self>
    where
        Self: Sized,
    {
        Debounce::new(self, dur)
    }

    /// Lets the first item through, then drops every item for `dur`; the next item after that
    /// passes and starts another `dur` (ReactiveX's `throttleFirst`; the dropping cousin of
    /// [`rate_limit`](StreamzExt::rate_limit)). It keeps taking from its upstream, so a
    /// rendezvous `emit` never waits; [`Throttle::dropped`] counts what it dropped.
    ///
    /// # Panics
    /// If `dur` is zero (`dur` must be at least 1ns).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let source = Source::new();
    /// let list = source.stream().throttle(Duration::from_millis(100)).sink_to_list();
    /// for x in 0..10 {
    ///     source.emit(x).await.unwrap(); // one every 30 ms
    ///     tokio::time::sleep(Duration::from_millis(30)).await;
    /// }
    /// // 0 at 0 ms, 4 at 120 ms, 8 at 240 ms; the rest were dropped.
    /// assert_eq!(list.snapshot(), vec![0, 4, 8]);
    /// # }
    /// ```
    #[track_caller]
    fn throttle(self, dur: std::time::Duration) -> Throttle<Self>
    where
        Self: Sized,
    {
        Throttle::new(self, dur)
    }

    /// Every `dur`, the newest item since the last sample, if there is one (ReactiveX's
    /// `sample`). The intervals are aligned to this call, as in
    /// [`timed_window`](StreamzExt::timed_window); items are taken as they come, so a rendezvous
    /// `emit` upstream returns at once. When the upstream ends, an item not yet sampled comes
    /// out at once: the last item is never lost.
    ///
    /// # Panics
    /// If `dur` is zero (`dur` must be at least 1ns).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let source = Source::new();
    /// let list = source.stream().sample(Duration::from_millis(100)).sink_to_list();
    /// for x in 0..10 {
    ///     source.emit(x).await.unwrap(); // one every 30 ms: 0 ms, 30 ms, ... 270 ms
    ///     tokio::time::sleep(Duration::from_millis(30)).await;
    /// }
    /// tokio::time::sleep(Duration::from_millis(50)).await;
    /// // Sampled at 100, 200 and 300 ms.
    /// assert_eq!(list.snapshot(), vec![3, 6, 9]);
    /// # }
    /// ```
    #[track_caller]
    fn sample(self, dur: std::time::Duration) -> Sample<Self>
    where
        Self: Sized,
    {
        Sample::new(self, dur)
    }

    /// Runs `f`'s future for each item, up to `n` at once, and yields their outputs in input
    /// order (streamz's `map_async`, with a concurrency limit). A future that finished waits for
    /// the ones before it, and still counts towards `n`. It takes a new item only while fewer
    /// than `n` are in flight: that is its back-pressure. With a rendezvous `Source` upstream,
    /// the emit of the item that fills the last slot returns once a slot is free again.
    ///
    /// # Panics
    /// If `n` is 0 (`n` must be at least 1): futures' `buffered(0)` would wait forever.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let start = tokio::time::Instant::now();
    /// let slow_double = |x: u64| async move {
    ///     tokio::time::sleep(Duration::from_millis(100 * (3 - x))).await;
    ///     x * 2
    /// };
    /// let out: Vec<u64> = futures::stream::iter(0..3).map_async(3, slow_double).collect().await;
    /// assert_eq!(out, vec![0, 2, 4]); // in order, although 2 finished first
    /// assert_eq!(start.elapsed(), Duration::from_millis(300)); // all three at once
    /// # }
    /// ```
    #[track_caller]
    fn map_async<F, Fut>(self, n: usize, f: F) -> MapAsync<Self, F, Fut>
    where
        Self: Sized,
        F: FnMut(Self::Item) -> Fut,
        Fut: std::future::Future,
    {
        MapAsync::new(self, n, f)
    }

    /// Maps each item with a closure that returns a `Result`: the `Ok` values flow on, and the
    /// `Err`s go to the stream from [`TryMap::errors`] (a dead-letter branch), or are only
    /// counted ([`TryMap::error_count`]) if nobody takes it. Unlike `try_stream!` or
    /// `TryStreamExt`, an `Err` does not end the pipeline. A panic in `f` still ends it.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut numbers = futures::stream::iter(["4", "four", "2"]).try_map(|s| s.parse::<u8>());
    /// let bad = numbers.errors().map(|e| e.to_string()).sink_to_list();
    /// assert_eq!(numbers.collect::<Vec<_>>().await, vec![4, 2]);
    /// assert_eq!(bad.await.unwrap(), vec!["invalid digit found in string"]);
    /// # }
    /// ```
    fn try_map<F, U, E>(self, f: F) -> TryMap<Self, F, E>
    where
        Self: Sized,
        F: FnMut(Self::Item) -> Result<U, E>,
    {
        TryMap::new(self, f)
    }

    /// Keeps the items for which `pred` gives `Ok(true)` and drops those with `Ok(false)`; the
    /// `Err`s go to the stream from [`TryRetain::errors`], or are only counted
    /// ([`TryRetain::error_count`]) if nobody takes it. An `Err` does not end the pipeline.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut adults = futures::stream::iter(["31", "?", "12"])
    ///     .try_retain(|age| age.parse::<u8>().map(|a| a >= 18));
    /// let unreadable = adults.errors().sink_to_list();
    /// assert_eq!(adults.collect::<Vec<_>>().await, vec!["31"]);
    /// assert_eq!(unreadable.await.unwrap().len(), 1);
    /// # }
    /// ```
    fn try_retain<F, E>(self, pred: F) -> TryRetain<Self, F, E>
    where
        Self: Sized,
        F: FnMut(&Self::Item) -> Result<bool, E>,
    {
        TryRetain::new(self, pred)
    }

    /// Sessions in processing time: a `Vec` of items that came less than `gap` apart, emitted
    /// once `gap` has passed without an item (streamz has no such operator; for sessions in
    /// the items' own time see [`event_time`](StreamzExt::event_time)). Items are taken as they
    /// come, so a rendezvous `emit` upstream returns at once. When the upstream ends, the
    /// current session comes out at once. Sessions are never empty.
    ///
    /// # Panics
    /// If `gap` is zero (`gap` must be at least 1ns).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let source = Source::new();
    /// let list = source.stream().session_window(Duration::from_secs(1)).sink_to_list();
    /// for (x, pause) in [(1, 100), (2, 1200), (3, 1500), (4, 0)] {
    ///     source.emit(x).await.unwrap();
    ///     tokio::time::sleep(Duration::from_millis(pause)).await;
    /// }
    /// source.close();
    /// assert_eq!(list.await.unwrap(), vec![vec![1, 2], vec![3], vec![4]]);
    /// # }
    /// ```
    #[track_caller]
    fn session_window(self, gap: std::time::Duration) -> SessionWindow<Self>
    where
        Self: Sized,
    {
        SessionWindow::new(self, gap)
    }

    /// [`timed_window`](StreamzExt::timed_window) by key: each interval of `dur` emits a `Vec`
    /// of `(key, items)`, one per key that had items, in the order each key first came in that
    /// interval (an empty `Vec` for an empty interval). As in `timed_window`, intervals are
    /// aligned to this call and a last window comes out when the upstream ends.
    ///
    /// # Panics
    /// If `dur` is zero (`dur` must be at least 1ns).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let source = Source::new();
    /// let list = source
    ///     .stream()
    ///     .timed_window_by(Duration::from_secs(1), |word: &&str| word.len())
    ///     .sink_to_list();
    /// for word in ["a", "bb", "c"] {
    ///     source.emit(word).await.unwrap();
    /// }
    /// tokio::time::sleep(Duration::from_millis(1500)).await;
    /// assert_eq!(list.snapshot(), vec![vec![(1, vec!["a", "c"]), (2, vec!["bb"])]]);
    /// # }
    /// ```
    #[track_caller]
    fn timed_window_by<K, F>(self, dur: std::time::Duration, key: F) -> TimedWindowBy<Self, K, F>
    where
        Self: Sized,
        K: std::hash::Hash + Eq + Clone,
        F: FnMut(&Self::Item) -> K,
    {
        TimedWindowBy::new(self, dur, key)
    }

    // @methods (keep this line: operator methods are added above it)

    /// Sends each item to a worker of `client` (the one with the least outstanding work),
    /// making a [`RemoteStream`](crate::RemoteStream) on which remote functions run.
    ///
    /// An item travels in the same message as the first task on it (one message per item,
    /// not a scatter and then a submit), and a task's request goes once something needs its
    /// result: a [`buffered(n)`](crate::RemoteStream::buffered) with a free place, `gather`,
    /// or a task on it. [`Client::scatter`](crate::Client::scatter) sends its value at once.
    ///
    /// ```
    /// use rivulet::prelude::*;
    ///
    /// #[rivulet::remote]
    /// fn inc(x: i64) -> i64 {
    ///     x + 1
    /// }
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let source = Source::new();
    /// let results = source.stream().scatter(&client).map(inc).buffered(8).gather().sink_to_list();
    /// for x in 0..3 {
    ///     source.emit(x).await?;
    /// }
    /// source.close();
    /// assert_eq!(results.await?, vec![Ok(1), Ok(2), Ok(3)]);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "remote")]
    fn scatter(
        self,
        client: &crate::Client,
    ) -> crate::RemoteStream<<Self::Item as crate::remote::Scatterable>::Value>
    where
        Self: Sized + Send + 'static,
        Self::Item: crate::remote::Scatterable,
    {
        crate::RemoteStream::scatter(self, client)
    }

    /// Spawns the pipeline on the current tokio runtime, handing each item to `f`.
    ///
    /// The returned [`SinkHandle`] resolves when the stream ends. A panic anywhere in the
    /// pipeline ends it with an [`Error`](crate::Error) whose `Display` contains the panic message,
    /// and drops the pipeline, so its subscriptions hold up no `emit`.
    ///
    /// # Panics
    /// Outside a tokio runtime, as [`tokio::spawn`] does.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let source = Source::new();
    /// let done = source.stream().map(|x: i32| x + 1).sink(|x| println!("{x}"));
    /// source.emit(1).await.unwrap(); // prints 2 before emit returns
    /// source.close();
    /// done.await.unwrap();
    /// # }
    /// ```
    fn sink<F>(self, f: F) -> SinkHandle
    where
        Self: Sized + Send + 'static,
        F: FnMut(Self::Item) + Send + 'static,
    {
        spawn_sink(self, f)
    }

    /// Spawns the pipeline on the current tokio runtime, collecting its items in a [`ListSink`].
    ///
    /// # Panics
    /// Outside a tokio runtime, as [`tokio::spawn`] does.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let source = Source::new();
    /// let list = source.stream().sink_to_list();
    /// source.emit(7).await.unwrap();
    /// assert_eq!(list.snapshot(), vec![7]);
    /// # }
    /// ```
    fn sink_to_list(self) -> ListSink<Self::Item>
    where
        Self: Sized + Send + 'static,
        Self::Item: Send + 'static,
    {
        ListSink::spawn(self)
    }

    /// Spawns the pipeline on the current tokio runtime, appending each item to the file at
    /// `path` as its `Display` text and a newline: streamz's `sink_to_textfile`.
    ///
    /// The file is created if missing and appended to; writes are buffered and flushed whenever
    /// the upstream has no item ready and when it ends. The [`SinkHandle`] resolves once the
    /// stream has ended and the file is flushed, or with [`Error::Io`](crate::Error::Io) when a
    /// write fails. [`sinks::TextFileSink`](crate::sinks::TextFileSink) sets the line ending and
    /// `fsync`.
    ///
    /// # Panics
    /// Outside a tokio runtime, as [`tokio::spawn`] does.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = std::env::temp_dir().join(format!("rivulet-doc-sink-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("out.txt");
    /// # let _ = std::fs::remove_file(&path);
    /// let source = Source::new();
    /// let done = source.stream().sink_to_textfile(&path);
    /// source.emit("a").await?;
    /// source.emit("b").await?;
    /// source.close();
    /// done.await?;
    /// assert_eq!(std::fs::read_to_string(&path)?, "a\nb\n");
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    fn sink_to_textfile(self, path: impl AsRef<std::path::Path>) -> SinkHandle
    where
        Self: Sized + Send + 'static,
        Self::Item: std::fmt::Display + Send,
    {
        crate::sinks::TextFileSink::new(path).spawn(self)
    }
}

impl<S: Stream + ?Sized> StreamzExt for S {}

/// The items of all `streams` as they come (streamz's `union` of several streams).
///
/// The streams are polled round-robin, starting after the one that gave the last item, so none
/// starves. It ends when every stream has ended (at once when there are none). They must all have
/// one type; for streams of different types pass a `Vec` of
/// [`BoxStream`](futures::stream::BoxStream)s: this is also the `_all` form.
///
/// ```
/// use rivulet::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (a, b, c) = (Source::new(), Source::new(), Source::new());
/// let all = rivulet::union([a.stream(), b.stream(), c.stream()]).sink_to_list();
/// a.emit(1).await.unwrap();
/// b.emit(2).await.unwrap();
/// c.emit(3).await.unwrap();
/// assert_eq!(all.snapshot(), vec![1, 2, 3]);
///
/// let mixed: Vec<futures::stream::BoxStream<'static, i32>> =
///     vec![futures::stream::iter(vec![1, 2]).boxed(), futures::stream::once(async { 3 }).boxed()];
/// let mut got: Vec<i32> = rivulet::union(mixed).collect().await;
/// got.sort();
/// assert_eq!(got, vec![1, 2, 3]);
/// # }
/// ```
pub fn union<I, S, T>(streams: I) -> UnionAll<S>
where
    I: IntoIterator<Item = S>,
    S: crate::LocalStream<Item = T>,
{
    UnionAll::new(streams)
}

/// Triples of the items of `a`, `b` and `c` in order (streamz's `zip` of three streams).
///
/// Each side holds up to 10 unmatched items, as in [`zip_with`](StreamzExt::zip_with), so
/// emitting into the three in turn from one task never deadlocks. It ends when a side has ended
/// and all its items are used.
///
/// ```
/// use rivulet::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (a, b, c) = (Source::new(), Source::new(), Source::new());
/// let triples = rivulet::zip3(a.stream(), b.stream(), c.stream()).sink_to_list();
/// a.emit(1).await.unwrap();
/// b.emit('x').await.unwrap();
/// c.emit("one").await.unwrap();
/// assert_eq!(triples.snapshot(), vec![(1, 'x', "one")]);
/// # }
/// ```
pub fn zip3<A, B, C, T, U, V>(a: A, b: B, c: C) -> Zip3<A, B, C>
where
    A: crate::LocalStream<Item = T>,
    B: crate::LocalStream<Item = U>,
    C: crate::LocalStream<Item = V>,
{
    Zip3::new(a, b, c)
}

/// A `Vec` with the next item of every one of `streams`, in order (streamz's `zip` of many
/// streams).
///
/// Each side holds up to 10 unmatched items, as in [`zip_with`](StreamzExt::zip_with). It ends
/// when a side has ended and all its items are used, and at once when there are no streams.
///
/// ```
/// use rivulet::prelude::*;
/// # futures::executor::block_on(async {
/// let streams = vec![futures::stream::iter(vec![1, 2]), futures::stream::iter(vec![10, 20])];
/// let rows: Vec<Vec<i32>> = rivulet::zip_all(streams).collect().await;
/// assert_eq!(rows, vec![vec![1, 10], vec![2, 20]]);
/// # });
/// ```
pub fn zip_all<I, S, T>(streams: I) -> ZipAll<S>
where
    I: IntoIterator<Item = S>,
    S: crate::LocalStream<Item = T>,
{
    ZipAll::new(streams)
}

/// The latest items of `a`, `b` and `c`, on every item of any of them once all three have given
/// one (streamz's `combine_latest` of three streams). It ends when all three have ended.
///
/// ```
/// use rivulet::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (a, b, c) = (Source::new(), Source::new(), Source::new());
/// let latest = rivulet::combine_latest3(a.stream(), b.stream(), c.stream()).sink_to_list();
/// a.emit(1).await.unwrap();
/// b.emit('x').await.unwrap();
/// c.emit("one").await.unwrap();
/// a.emit(2).await.unwrap();
/// assert_eq!(latest.snapshot(), vec![(1, 'x', "one"), (2, 'x', "one")]);
/// # }
/// ```
pub fn combine_latest3<A, B, C, T, U, V>(a: A, b: B, c: C) -> CombineLatest3<A, B, C>
where
    A: crate::LocalStream<Item = T>,
    B: crate::LocalStream<Item = U>,
    C: crate::LocalStream<Item = V>,
    T: Clone,
    U: Clone,
    V: Clone,
{
    CombineLatest3::new(a, b, c)
}

/// A `Vec` with the latest item of every one of `streams`, on every item of any of them once
/// all have given one (streamz's `combine_latest` of many streams). It ends when every stream
/// has ended (at once when there are none).
///
/// ```
/// use rivulet::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (a, b) = (Source::new(), Source::new());
/// let latest = rivulet::combine_latest_all(vec![a.stream(), b.stream()]).sink_to_list();
/// a.emit(1).await.unwrap();
/// b.emit(10).await.unwrap();
/// b.emit(20).await.unwrap();
/// assert_eq!(latest.snapshot(), vec![vec![1, 10], vec![1, 20]]);
/// # }
/// ```
pub fn combine_latest_all<I, S, T>(streams: I) -> CombineLatestAll<S>
where
    I: IntoIterator<Item = S>,
    S: crate::LocalStream<Item = T>,
    T: Clone,
{
    CombineLatestAll::new(streams)
}

// @functions (keep this line: free functions over several streams are added above it)
