//! Cache items and emit them together whenever another stream says so: streamz's `collect`.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::FusedStream;
use pin_project::pin_project;

use super::union::{Polled, YIELD_AFTER, poll_input};
use crate::LocalStream;

/// Stream for [`StreamzExt::collect_until`](crate::StreamzExt::collect_until): the items cached
/// since the last flush, as a `Vec`, each time the `flush` stream yields.
///
/// A flush with nothing cached emits an empty `Vec`, as in streamz. The cache is unbounded (it
/// takes every item at once, so emitting into the stream never waits on the flush). When the
/// stream ends, what is still cached comes out as a last `Vec` (if it is not empty) and the
/// `CollectUntil` ends. When the `flush` stream ends first, items are cached until the stream
/// ends and then come out together.
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct CollectUntil<S: LocalStream, F> {
    #[pin]
    stream: Option<S>,
    #[pin]
    flush: Option<F>,
    cache: Vec<S::Item>,
    /// Whether `flush` is polled first next time: the input after the one that gave the last
    /// item, so neither starves the other.
    flush_first: bool,
    done: bool,
}

impl<S: LocalStream, F> CollectUntil<S, F> {
    pub(crate) fn new(stream: S, flush: F) -> Self {
        CollectUntil {
            stream: Some(stream),
            flush: Some(flush),
            cache: Vec::new(),
            flush_first: false,
            done: false,
        }
    }
}

impl<S, F, T> Stream for CollectUntil<S, F>
where
    S: LocalStream<Item = T>,
    F: LocalStream,
{
    type Item = Vec<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Vec<T>>> {
        let mut this = self.project();
        for _ in 0..YIELD_AFTER {
            if this.stream.is_none() {
                // Nothing more can be cached: drop the flush so it holds up no `emit`.
                this.flush.set(None);
                if this.cache.is_empty() {
                    *this.done = true;
                    return Poll::Ready(None);
                }
                return Poll::Ready(Some(std::mem::take(this.cache)));
            }
            let mut progressed = false;
            for polling_flush in [*this.flush_first, !*this.flush_first] {
                let polled = if polling_flush {
                    match poll_input(this.flush.as_mut(), cx) {
                        Polled::Item(_) => {
                            *this.flush_first = false;
                            return Poll::Ready(Some(std::mem::take(this.cache)));
                        }
                        other => other.map(drop),
                    }
                } else {
                    poll_input(this.stream.as_mut(), cx).map(|x| this.cache.push(x))
                };
                if !matches!(polled, Polled::Idle) {
                    *this.flush_first = !polling_flush;
                    progressed = true;
                    break;
                }
            }
            if !progressed {
                return Poll::Pending;
            }
        }
        // Items keep coming without a flush: let the rest of the task run first.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<S, F, T> FusedStream for CollectUntil<S, F>
where
    S: LocalStream<Item = T>,
    F: LocalStream,
{
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<S: LocalStream, F> std::fmt::Debug for CollectUntil<S, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectUntil")
            .field("cached", &self.cache.len())
            .field("flush_live", &self.flush.is_some())
            .field("done", &self.done)
            .finish()
    }
}
