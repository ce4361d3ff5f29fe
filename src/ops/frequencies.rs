//! Count each distinct item and emit the running counts: streamz's `frequencies`.

use std::collections::HashMap;
use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::FusedStream;
use pin_project::pin_project;

/// Stream for [`StreamzExt::frequencies`](crate::StreamzExt::frequencies).
#[pin_project]
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Frequencies<S: Stream> {
    #[pin]
    stream: S,
    counts: HashMap<S::Item, usize>,
}

impl<S: Stream> Frequencies<S> {
    pub(crate) fn new(stream: S) -> Self {
        Frequencies {
            stream,
            counts: HashMap::new(),
        }
    }
}

impl<S> Stream for Frequencies<S>
where
    S: Stream,
    S::Item: Hash + Eq + Clone,
{
    type Item = HashMap<S::Item, usize>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        match futures::ready!(this.stream.poll_next(cx)) {
            Some(x) => {
                *this.counts.entry(x).or_insert(0) += 1;
                Poll::Ready(Some(this.counts.clone()))
            }
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}

impl<S> FusedStream for Frequencies<S>
where
    S: FusedStream,
    S::Item: Hash + Eq + Clone,
{
    fn is_terminated(&self) -> bool {
        self.stream.is_terminated()
    }
}
