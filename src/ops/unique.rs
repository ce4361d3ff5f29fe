//! Drop items whose key was seen before, in all history or among the most recent keys: streamz's
//! `unique`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::FusedStream;
use pin_project::pin_project;

use super::{assert_nonzero, call_user};

/// Stream for [`StreamzExt::unique`](crate::StreamzExt::unique) and
/// [`unique_recent`](crate::StreamzExt::unique_recent): the item is its own key.
pub type Unique<S> =
    UniqueBy<S, <S as Stream>::Item, fn(&<S as Stream>::Item) -> <S as Stream>::Item>;

/// Stream for [`StreamzExt::unique_by`](crate::StreamzExt::unique_by) and
/// [`unique_recent_by`](crate::StreamzExt::unique_recent_by).
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct UniqueBy<S, K, F> {
    #[pin]
    stream: S,
    key: F,
    seen: Seen<K>,
    /// The method that built this stream, named when the key closure panics.
    op: &'static str,
}

/// What a [`UniqueBy`] remembers.
enum Seen<K> {
    All(HashSet<K>),
    Recent(RecentKeys<K>),
}

/// The `maxsize` most recently seen keys (an LRU set).
///
/// `last_seen` maps each remembered key to the tick of its latest sighting, and `order` lists
/// sightings oldest first. A sighting of a key that is already remembered only pushes a new
/// entry, so the older entries of that key go stale and are skipped (or swept) later: every
/// operation is O(1) amortised, with no linked list.
struct RecentKeys<K> {
    maxsize: usize,
    tick: u64,
    last_seen: HashMap<K, u64>,
    order: VecDeque<(u64, K)>,
}

impl<K: Hash + Eq + Clone> RecentKeys<K> {
    /// Records a sighting of `key`; true if it was not remembered.
    fn admit(&mut self, key: K) -> bool {
        self.tick += 1;
        let now = self.tick;
        let is_new = match self.last_seen.get_mut(&key) {
            Some(at) => {
                *at = now;
                false
            }
            None => {
                self.last_seen.insert(key.clone(), now);
                true
            }
        };
        self.order.push_back((now, key));
        if is_new && self.last_seen.len() > self.maxsize {
            self.forget_least_recent();
        }
        // Stale entries pile up only through repeated keys; sweeping them once `order` is twice
        // as long as it needs to be keeps memory bounded by `2 * maxsize` entries, and at least
        // `maxsize` sightings separate two sweeps, so the O(len) sweep is O(1) amortised.
        if self.order.len() >= self.maxsize.saturating_mul(2) {
            let last_seen = &self.last_seen;
            self.order
                .retain(|(at, key)| last_seen.get(key) == Some(at));
        }
        is_new
    }

    fn forget_least_recent(&mut self) {
        while let Some((at, key)) = self.order.pop_front() {
            if self.last_seen.get(&key) == Some(&at) {
                self.last_seen.remove(&key);
                return;
            }
        }
    }
}

impl<S, K, F> UniqueBy<S, K, F> {
    pub(crate) fn new(stream: S, key: F, op: &'static str) -> Self {
        UniqueBy {
            stream,
            key,
            seen: Seen::All(HashSet::new()),
            op,
        }
    }

    #[track_caller]
    pub(crate) fn recent(stream: S, maxsize: usize, key: F, op: &'static str) -> Self {
        assert_nonzero(maxsize, op, "maxsize");
        let seen = Seen::Recent(RecentKeys {
            maxsize,
            tick: 0,
            last_seen: HashMap::new(),
            order: VecDeque::new(),
        });
        UniqueBy {
            stream,
            key,
            seen,
            op,
        }
    }
}

impl<S, K, F> Stream for UniqueBy<S, K, F>
where
    S: Stream,
    K: Hash + Eq + Clone,
    F: FnMut(&S::Item) -> K,
{
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let mut this = self.project();
        loop {
            let Some(x) = futures::ready!(this.stream.as_mut().poll_next(cx)) else {
                return Poll::Ready(None);
            };
            let key = call_user(this.op, || (this.key)(&x));
            let is_new = match this.seen {
                Seen::All(seen) => seen.insert(key),
                Seen::Recent(recent) => recent.admit(key),
            };
            if is_new {
                return Poll::Ready(Some(x));
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, self.stream.size_hint().1)
    }
}

impl<S, K, F> FusedStream for UniqueBy<S, K, F>
where
    S: FusedStream,
    K: Hash + Eq + Clone,
    F: FnMut(&S::Item) -> K,
{
    fn is_terminated(&self) -> bool {
        self.stream.is_terminated()
    }
}

impl<S: fmt::Debug, K: fmt::Debug, F> fmt::Debug for UniqueBy<S, K, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("UniqueBy");
        out.field("op", &self.op).field("stream", &self.stream);
        match &self.seen {
            Seen::All(seen) => out.field("seen", seen),
            Seen::Recent(recent) => out
                .field("maxsize", &recent.maxsize)
                .field("recent", &recent.last_seen.keys().collect::<Vec<_>>()),
        };
        out.finish_non_exhaustive()
    }
}
