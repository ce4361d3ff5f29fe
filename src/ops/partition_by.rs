//! Batch items into `Vec`s of `n` per key: streamz's `partition(n, key=...)`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::vec;

use futures::Stream;
use futures::stream::FusedStream;
use pin_project::pin_project;

use super::{assert_nonzero, call_user};

/// A batch still filling up, and when it was started (to flush in that order at the end).
struct Pending<T> {
    started: u64,
    items: Vec<T>,
}

/// Stream for [`StreamzExt::partition_by`](crate::StreamzExt::partition_by).
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct PartitionBy<S: Stream, K, F> {
    #[pin]
    stream: S,
    n: usize,
    key: F,
    pending: HashMap<K, Pending<S::Item>>,
    /// How many batches have been started: the order in which partial batches are flushed.
    started: u64,
    /// Once the upstream has ended: the partial batches still to emit, oldest first.
    flush: Option<vec::IntoIter<Vec<S::Item>>>,
}

impl<S: Stream, K, F> PartitionBy<S, K, F> {
    #[track_caller]
    pub(crate) fn new(stream: S, n: usize, key: F) -> Self {
        assert_nonzero(n, "partition_by", "n");
        PartitionBy {
            stream,
            n,
            key,
            pending: HashMap::new(),
            started: 0,
            flush: None,
        }
    }
}

impl<S, K, F> Stream for PartitionBy<S, K, F>
where
    S: Stream,
    K: Hash + Eq,
    F: FnMut(&S::Item) -> K,
{
    type Item = Vec<S::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if let Some(flush) = this.flush {
                return Poll::Ready(flush.next());
            }
            let Some(x) = futures::ready!(this.stream.as_mut().poll_next(cx)) else {
                let mut partial: Vec<_> = this.pending.drain().map(|(_, batch)| batch).collect();
                partial.sort_unstable_by_key(|batch| batch.started);
                let batches: Vec<_> = partial.into_iter().map(|batch| batch.items).collect();
                *this.flush = Some(batches.into_iter());
                continue;
            };
            let key = call_user("partition_by", || (this.key)(&x));
            match this.pending.entry(key) {
                Entry::Occupied(mut batch) => {
                    batch.get_mut().items.push(x);
                    if batch.get().items.len() == *this.n {
                        return Poll::Ready(Some(batch.remove().items));
                    }
                }
                Entry::Vacant(slot) => {
                    if *this.n == 1 {
                        return Poll::Ready(Some(vec![x]));
                    }
                    let mut items = Vec::with_capacity(*this.n);
                    items.push(x);
                    slot.insert(Pending {
                        started: *this.started,
                        items,
                    });
                    *this.started += 1;
                }
            }
        }
    }
}

impl<S, K, F> FusedStream for PartitionBy<S, K, F>
where
    S: Stream,
    K: Hash + Eq,
    F: FnMut(&S::Item) -> K,
{
    fn is_terminated(&self) -> bool {
        self.flush.as_ref().is_some_and(|flush| flush.len() == 0)
    }
}

impl<S, K, F> fmt::Debug for PartitionBy<S, K, F>
where
    S: Stream + fmt::Debug,
    S::Item: fmt::Debug,
    K: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pending: Vec<_> = self
            .pending
            .iter()
            .map(|(k, batch)| (k, &batch.items))
            .collect();
        f.debug_struct("PartitionBy")
            .field("stream", &self.stream)
            .field("n", &self.n)
            .field("pending", &pending)
            .field("ended", &self.flush.is_some())
            .finish_non_exhaustive()
    }
}
