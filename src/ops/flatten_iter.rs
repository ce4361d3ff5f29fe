//! Emit the contents of each item: streamz's `flatten`.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use pin_project::pin_project;

/// Stream for [`StreamzExt::flatten_iter`](crate::StreamzExt::flatten_iter).
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct FlattenIter<S>
where
    S: Stream,
    S::Item: IntoIterator,
{
    #[pin]
    stream: S,
    current: Option<<S::Item as IntoIterator>::IntoIter>,
}

impl<S> FlattenIter<S>
where
    S: Stream,
    S::Item: IntoIterator,
{
    pub(crate) fn new(stream: S) -> Self {
        FlattenIter {
            stream,
            current: None,
        }
    }
}

impl<S> Stream for FlattenIter<S>
where
    S: Stream,
    S::Item: IntoIterator,
{
    type Item = <S::Item as IntoIterator>::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if let Some(x) = this.current.as_mut().and_then(Iterator::next) {
                return Poll::Ready(Some(x));
            }
            *this.current = None;
            match futures::ready!(this.stream.as_mut().poll_next(cx)) {
                Some(batch) => *this.current = Some(batch.into_iter()),
                None => return Poll::Ready(None),
            }
        }
    }
}

impl<S> std::fmt::Debug for FlattenIter<S>
where
    S: Stream + std::fmt::Debug,
    S::Item: IntoIterator,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlattenIter")
            .field("stream", &self.stream)
            .field("in_batch", &self.current.is_some())
            .finish()
    }
}
