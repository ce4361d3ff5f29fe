//! Batch items into `Vec`s of `n`: streamz's `partition`.

use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::FusedStream;
use pin_project::pin_project;

use super::assert_nonzero;

/// Stream for [`StreamzExt::partition`](crate::StreamzExt::partition).
#[pin_project]
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Partition<S: Stream> {
    #[pin]
    stream: S,
    n: usize,
    batch: Vec<S::Item>,
    /// The upstream has ended; it must not be polled again (streams need not be fused).
    done: bool,
}

impl<S: Stream> Partition<S> {
    #[track_caller]
    pub(crate) fn new(stream: S, n: usize) -> Self {
        assert_nonzero(n, "partition", "n");
        Partition {
            stream,
            n,
            batch: Vec::with_capacity(n),
            done: false,
        }
    }
}

impl<S: Stream> Stream for Partition<S> {
    type Item = Vec<S::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        while !*this.done {
            match futures::ready!(this.stream.as_mut().poll_next(cx)) {
                Some(x) => {
                    this.batch.push(x);
                    if this.batch.len() == *this.n {
                        let full = mem::replace(this.batch, Vec::with_capacity(*this.n));
                        return Poll::Ready(Some(full));
                    }
                }
                None => *this.done = true,
            }
        }
        if this.batch.is_empty() {
            Poll::Ready(None)
        } else {
            // The partial batch goes out once; `mem::take` leaves nothing to emit next time.
            Poll::Ready(Some(mem::take(this.batch)))
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let pending = self.batch.len();
        if self.done {
            return (usize::from(pending > 0), Some(usize::from(pending > 0)));
        }
        // Every item ends up in exactly one batch, the last one possibly partial.
        let (lower, upper) = self.stream.size_hint();
        let batches = |items: usize| items.div_ceil(self.n);
        (
            batches(lower.saturating_add(pending)),
            upper.and_then(|u| u.checked_add(pending)).map(batches),
        )
    }
}

impl<S: Stream> FusedStream for Partition<S> {
    fn is_terminated(&self) -> bool {
        self.done && self.batch.is_empty()
    }
}
