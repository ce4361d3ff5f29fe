//! Keep or drop items by a predicate: streamz's `filter` and `remove`.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::FusedStream;
use pin_project::pin_project;

use super::call_user;

/// Stream for [`StreamzExt::retain`](crate::StreamzExt::retain) and
/// [`StreamzExt::remove`](crate::StreamzExt::remove).
#[pin_project]
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Retain<S, F> {
    #[pin]
    stream: S,
    pred: F,
    /// `true` keeps the items the predicate accepts (`retain`); `false` drops them (`remove`).
    keep_when: bool,
}

impl<S, F> Retain<S, F> {
    pub(crate) fn new(stream: S, pred: F, keep_when: bool) -> Self {
        Retain {
            stream,
            pred,
            keep_when,
        }
    }
}

impl<S, F> Stream for Retain<S, F>
where
    S: Stream,
    F: FnMut(&S::Item) -> bool,
{
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let mut this = self.project();
        let op = if *this.keep_when { "retain" } else { "remove" };
        loop {
            match futures::ready!(this.stream.as_mut().poll_next(cx)) {
                Some(x) => {
                    if call_user(op, || (this.pred)(&x)) == *this.keep_when {
                        return Poll::Ready(Some(x));
                    }
                }
                None => return Poll::Ready(None),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, self.stream.size_hint().1)
    }
}

impl<S, F> FusedStream for Retain<S, F>
where
    S: FusedStream,
    F: FnMut(&S::Item) -> bool,
{
    fn is_terminated(&self) -> bool {
        self.stream.is_terminated()
    }
}
