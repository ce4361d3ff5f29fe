//! Batch items until `n` distinct keys, dropping repeated keys: streamz's `partition_unique`.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::FusedStream;
use futures::Stream;
use pin_project::pin_project;

use super::{assert_nonzero, call_user, Keep};

/// Stream for [`StreamzExt::partition_unique`](crate::StreamzExt::partition_unique).
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct PartitionUnique<S: Stream, K, F> {
    #[pin]
    stream: S,
    n: usize,
    key: F,
    keep: Keep,
    /// The batch in arrival order. With [`Keep::Last`] a replaced item leaves a `None` behind
    /// instead of shifting everything after it.
    slots: Vec<Option<S::Item>>,
    /// Each key of the batch and the index of its item in `slots`.
    index: HashMap<K, usize>,
    /// The upstream has ended; it must not be polled again (streams need not be fused).
    done: bool,
}

impl<S: Stream, K, F> PartitionUnique<S, K, F> {
    #[track_caller]
    pub(crate) fn new(stream: S, n: usize, key: F, keep: Keep) -> Self {
        assert_nonzero(n, "partition_unique", "n");
        PartitionUnique {
            stream,
            n,
            key,
            keep,
            slots: Vec::new(),
            index: HashMap::new(),
            done: false,
        }
    }
}

impl<S, K, F> Stream for PartitionUnique<S, K, F>
where
    S: Stream,
    K: Hash + Eq,
    F: FnMut(&S::Item) -> K,
{
    type Item = Vec<S::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        while !*this.done {
            let Some(x) = futures::ready!(this.stream.as_mut().poll_next(cx)) else {
                *this.done = true;
                break;
            };
            let key = call_user("partition_unique", || (this.key)(&x));
            match (this.index.entry(key), *this.keep) {
                (Entry::Occupied(_), Keep::First) => continue,
                (Entry::Occupied(mut at), Keep::Last) => {
                    // As in streamz, the newest item with a key moves to the end of the batch.
                    this.slots[*at.get()] = None;
                    *at.get_mut() = this.slots.len();
                    this.slots.push(Some(x));
                    if this.slots.len() >= 2 * *this.n {
                        compact(this.slots, this.index);
                    }
                }
                (Entry::Vacant(at), _) => {
                    at.insert(this.slots.len());
                    this.slots.push(Some(x));
                    if this.index.len() == *this.n {
                        return Poll::Ready(Some(take_batch(this.slots, this.index)));
                    }
                }
            }
        }
        if this.index.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(take_batch(this.slots, this.index)))
        }
    }
}

/// Empties the batch, keeping both buffers' capacity for the next one.
fn take_batch<T, K>(slots: &mut Vec<Option<T>>, index: &mut HashMap<K, usize>) -> Vec<T> {
    let mut batch = Vec::with_capacity(index.len());
    batch.extend(slots.drain(..).flatten());
    index.clear();
    batch
}

/// Drops the holes [`Keep::Last`] leaves in `slots`. The batch holds fewer than `n` live items
/// and this runs once `slots` reaches `2n`, so at least `n` pushes separate two runs: O(1) per
/// item amortised, and `slots` stays below `2n` however often keys repeat.
fn compact<T, K>(slots: &mut Vec<Option<T>>, index: &mut HashMap<K, usize>) {
    let mut new_position = Vec::with_capacity(slots.len());
    let mut live = 0;
    for slot in slots.iter() {
        new_position.push(live);
        live += usize::from(slot.is_some());
    }
    for at in index.values_mut() {
        *at = new_position[*at];
    }
    slots.retain(Option::is_some);
}

impl<S, K, F> FusedStream for PartitionUnique<S, K, F>
where
    S: Stream,
    K: Hash + Eq,
    F: FnMut(&S::Item) -> K,
{
    fn is_terminated(&self) -> bool {
        self.done && self.index.is_empty()
    }
}

impl<S, K, F> fmt::Debug for PartitionUnique<S, K, F>
where
    S: Stream + fmt::Debug,
    S::Item: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let batch: Vec<_> = self.slots.iter().flatten().collect();
        f.debug_struct("PartitionUnique")
            .field("stream", &self.stream)
            .field("n", &self.n)
            .field("keep", &self.keep)
            .field("batch", &batch)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
