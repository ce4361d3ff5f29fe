//! Batches of `n`, also flushed a fixed time after their first item: `partition(n, timeout=)`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use pin_project::pin_project;
use tokio::time::Instant;

use super::assert_nonzero;
use super::timer::{READY_BUDGET, Timer, assert_nonzero_duration, deadline_after};

/// Stream for [`StreamzExt::partition_timeout`](crate::StreamzExt::partition_timeout).
///
/// Items are taken as they come; a batch comes out when it has `n` items, when `dur` has passed
/// since its first item, or when the upstream ends.
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct PartitionTimeout<S: Stream> {
    #[pin]
    stream: S,
    n: usize,
    timeout: Duration,
    batch: Vec<S::Item>,
    /// When the current batch comes out if it is not full by then; `None` while it is empty.
    flush_at: Option<Instant>,
    timer: Timer,
    /// The upstream has ended; it must not be polled again (streams need not be fused).
    upstream_done: bool,
}

impl<S: Stream> PartitionTimeout<S> {
    #[track_caller]
    pub(crate) fn new(stream: S, n: usize, timeout: Duration) -> Self {
        assert_nonzero(n, "partition_timeout", "n");
        assert_nonzero_duration(timeout, "partition_timeout", "dur");
        PartitionTimeout {
            stream,
            n,
            timeout,
            batch: Vec::new(),
            flush_at: None,
            timer: Timer::default(),
            upstream_done: false,
        }
    }
}

impl<S: Stream> Stream for PartitionTimeout<S> {
    type Item = Vec<S::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if *this.upstream_done {
            return Poll::Ready(None);
        }
        let mut taken = 0;
        while taken < READY_BUDGET {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(x)) => {
                    if this.batch.is_empty() {
                        *this.flush_at = Some(deadline_after(*this.timeout));
                    }
                    this.batch.push(x);
                    taken += 1;
                    if this.batch.len() == *this.n {
                        *this.flush_at = None;
                        return Poll::Ready(Some(std::mem::take(this.batch)));
                    }
                }
                Poll::Ready(None) => {
                    *this.upstream_done = true;
                    *this.flush_at = None;
                    return Poll::Ready(Some(std::mem::take(this.batch)).filter(|b| !b.is_empty()));
                }
                Poll::Pending => break,
            }
        }
        if let Some(due) = *this.flush_at {
            if this.timer.poll_until(due, cx).is_ready() {
                *this.flush_at = None;
                return Poll::Ready(Some(std::mem::take(this.batch)));
            }
        }
        if taken == READY_BUDGET {
            // More may be ready upstream, and nothing else would wake us for it.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

impl<S> std::fmt::Debug for PartitionTimeout<S>
where
    S: Stream + std::fmt::Debug,
    S::Item: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionTimeout")
            .field("stream", &self.stream)
            .field("n", &self.n)
            .field("timeout", &self.timeout)
            .field("batch", &self.batch)
            .field("flush_at", &self.flush_at)
            .field("upstream_done", &self.upstream_done)
            .finish_non_exhaustive()
    }
}
