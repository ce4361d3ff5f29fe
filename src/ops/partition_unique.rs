//! Batch items until `n` distinct keys, dropping repeated keys: streamz's `partition_unique`.

use std::fmt;
use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::FusedStream;
use pin_project::pin_project;

use super::unique_batch::UniqueBatch;
use super::{Keep, assert_nonzero, call_user};

/// Stream for [`StreamzExt::partition_unique`](crate::StreamzExt::partition_unique).
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct PartitionUnique<S: Stream, K, F> {
    #[pin]
    stream: S,
    n: usize,
    key: F,
    batch: UniqueBatch<K, S::Item>,
    /// The upstream has ended; it must not be polled again (streams need not be fused).
    done: bool,
}

impl<S: Stream, K: Hash + Eq, F> PartitionUnique<S, K, F> {
    #[track_caller]
    pub(crate) fn new(stream: S, n: usize, key: F, keep: Keep) -> Self {
        assert_nonzero(n, "partition_unique", "n");
        PartitionUnique {
            stream,
            n,
            key,
            batch: UniqueBatch::new(keep),
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
            if this.batch.insert(key, x) == *this.n {
                return Poll::Ready(Some(this.batch.take()));
            }
        }
        if this.batch.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(this.batch.take()))
        }
    }
}

impl<S, K, F> FusedStream for PartitionUnique<S, K, F>
where
    S: Stream,
    K: Hash + Eq,
    F: FnMut(&S::Item) -> K,
{
    fn is_terminated(&self) -> bool {
        self.done && self.batch.is_empty()
    }
}

impl<S, K, F> fmt::Debug for PartitionUnique<S, K, F>
where
    S: Stream + fmt::Debug,
    S::Item: fmt::Debug,
    K: Hash + Eq,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let batch: Vec<_> = self.batch.items().collect();
        f.debug_struct("PartitionUnique")
            .field("stream", &self.stream)
            .field("n", &self.n)
            .field("batch", &batch)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
