//! Every item of one stream with the latest item of another: streamz's `zip_latest`.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::FusedStream;
use pin_project::pin_project;

use super::combine_latest::Latest;
use super::union::{Polled, YIELD_AFTER, poll_input};
use crate::LocalStream;

/// Stream for [`StreamzExt::zip_latest`](crate::StreamzExt::zip_latest): every item of the left
/// stream, paired with the latest item of the right one.
///
/// Left items that arrive before the right stream's first item wait in a buffer, which is
/// unbounded until then (so emitting into the left side never waits on the right); after that
/// each left item goes out at once. It keeps taking from both inputs at all times. It ends when
/// the left stream has ended and its items are all out, or when the right stream ends without
/// ever giving an item (the buffered left items are then dropped: they can never be paired).
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct ZipLatest<A: LocalStream, B: LocalStream> {
    #[pin]
    left: Option<A>,
    /// Left items waiting for the right stream's first item.
    waiting: VecDeque<A::Item>,
    #[pin]
    right: Latest<B>,
    /// Whether the right stream is polled first next time: the side after the one that gave
    /// the last item, so neither starves the other.
    right_first: bool,
    done: bool,
}

impl<A: LocalStream, B: LocalStream> ZipLatest<A, B> {
    pub(crate) fn new(left: A, right: B) -> Self {
        ZipLatest {
            left: Some(left),
            waiting: VecDeque::new(),
            right: Latest::new(right),
            right_first: false,
            done: false,
        }
    }
}

impl<A, B, T, U> Stream for ZipLatest<A, B>
where
    A: LocalStream<Item = T>,
    B: LocalStream<Item = U>,
    U: Clone,
{
    type Item = (T, U);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<(T, U)>> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        let mut budget = YIELD_AFTER;
        loop {
            match this.right.value() {
                Some(latest) => {
                    if let Some(x) = this.waiting.pop_front() {
                        return Poll::Ready(Some((x, latest.clone())));
                    }
                    if this.left.is_none() {
                        break;
                    }
                }
                None if this.right.ended() => break,
                None => {}
            }
            if budget == 0 {
                // Items keep coming without making an output: let the rest of the task run.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            budget -= 1;
            let mut progressed = false;
            for polling_right in [*this.right_first, !*this.right_first] {
                let polled = if polling_right {
                    this.right.as_mut().poll_take(cx)
                } else {
                    poll_input(this.left.as_mut(), cx).map(|x| this.waiting.push_back(x))
                };
                if !matches!(polled, Polled::Idle) {
                    *this.right_first = !polling_right;
                    progressed = true;
                    break;
                }
            }
            if !progressed {
                return Poll::Pending;
            }
        }
        // Nothing more can come out: drop both inputs so they hold up no `emit`.
        *this.done = true;
        this.left.set(None);
        this.waiting.clear();
        this.right.close();
        Poll::Ready(None)
    }
}

impl<A, B, T, U> FusedStream for ZipLatest<A, B>
where
    A: LocalStream<Item = T>,
    B: LocalStream<Item = U>,
    U: Clone,
{
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<A: LocalStream, B: LocalStream> std::fmt::Debug for ZipLatest<A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZipLatest")
            .field("waiting", &self.waiting.len())
            .field("right_has_value", &self.right.value().is_some())
            .field("done", &self.done)
            .finish()
    }
}
