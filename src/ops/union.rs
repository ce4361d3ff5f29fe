//! Merge several streams into one, items as they come: streamz's `union`.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::FusedStream;
use pin_project::pin_project;

use crate::LocalStream;

/// How many rounds over its inputs a join that keeps taking without emitting (`combine_latest`
/// on one side, `zip_latest`'s other side, `collect_until`) makes in one poll before it yields,
/// so that an input that is always ready cannot keep the task from the rest of its work.
pub(crate) const YIELD_AFTER: usize = 32;

/// What one poll of a join's input gave.
pub(crate) enum Polled<T> {
    /// An item.
    Item(T),
    /// The input just ended; it has been dropped, so it holds up no `emit` any more.
    Ended,
    /// Nothing now (the input registered the waker), or the input ended before.
    Idle,
}

impl<T> Polled<T> {
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Polled<U> {
        match self {
            Polled::Item(x) => Polled::Item(f(x)),
            Polled::Ended => Polled::Ended,
            Polled::Idle => Polled::Idle,
        }
    }
}

/// Polls an input that a join drops as soon as it ends (`None` once it has ended).
pub(crate) fn poll_input<S: Stream>(
    mut input: Pin<&mut Option<S>>,
    cx: &mut Context<'_>,
) -> Polled<S::Item> {
    let Some(stream) = input.as_mut().as_pin_mut() else {
        return Polled::Idle;
    };
    match stream.poll_next(cx) {
        Poll::Ready(Some(x)) => Polled::Item(x),
        Poll::Ready(None) => {
            input.set(None);
            Polled::Ended
        }
        Poll::Pending => Polled::Idle,
    }
}

/// Stream for [`StreamzExt::union`](crate::StreamzExt::union): the items of two streams as they
/// come.
///
/// The two inputs take turns being polled first, so neither starves the other. It ends when both
/// have ended; an input that ends is dropped at once.
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct Union<A, B> {
    #[pin]
    a: Option<A>,
    #[pin]
    b: Option<B>,
    /// Whether `b` is polled first next time: the side after the one that gave the last item.
    b_first: bool,
}

impl<A, B> Union<A, B> {
    pub(crate) fn new(a: A, b: B) -> Self {
        Union {
            a: Some(a),
            b: Some(b),
            b_first: false,
        }
    }
}

impl<A, B, T> Stream for Union<A, B>
where
    A: LocalStream<Item = T>,
    B: LocalStream<Item = T>,
{
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut this = self.project();
        for polling_b in [*this.b_first, !*this.b_first] {
            let polled = if polling_b {
                poll_input(this.b.as_mut(), cx)
            } else {
                poll_input(this.a.as_mut(), cx)
            };
            if let Polled::Item(x) = polled {
                *this.b_first = !polling_b;
                return Poll::Ready(Some(x));
            }
        }
        if this.a.is_none() && this.b.is_none() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

impl<A, B, T> FusedStream for Union<A, B>
where
    A: LocalStream<Item = T>,
    B: LocalStream<Item = T>,
{
    fn is_terminated(&self) -> bool {
        self.a.is_none() && self.b.is_none()
    }
}

impl<A, B> std::fmt::Debug for Union<A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Union")
            .field("a_live", &self.a.is_some())
            .field("b_live", &self.b.is_some())
            .finish()
    }
}

/// Stream for [`union`](crate::union): the items of any number of streams of one type as they
/// come.
///
/// The inputs are polled round-robin, starting after the one that gave the last item, so none
/// starves. It ends when every input has ended (at once when there are none); an input that ends
/// is dropped at once.
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct UnionAll<S> {
    /// Each input is boxed so that a `Vec` of them can be polled in place; `None` once it ended.
    inputs: Vec<Pin<Box<Option<S>>>>,
    /// How many inputs have not ended.
    live: usize,
    /// The input polled first next time.
    next: usize,
}

impl<S> UnionAll<S> {
    pub(crate) fn new(inputs: impl IntoIterator<Item = S>) -> Self {
        let inputs: Vec<_> = inputs.into_iter().map(|s| Box::pin(Some(s))).collect();
        UnionAll {
            live: inputs.len(),
            inputs,
            next: 0,
        }
    }
}

impl<S, T> Stream for UnionAll<S>
where
    S: LocalStream<Item = T>,
{
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.project();
        let n = this.inputs.len();
        for k in 0..n {
            let i = (*this.next + k) % n;
            match poll_input(this.inputs[i].as_mut(), cx) {
                Polled::Item(x) => {
                    *this.next = (i + 1) % n;
                    return Poll::Ready(Some(x));
                }
                Polled::Ended => *this.live -= 1,
                Polled::Idle => {}
            }
        }
        if *this.live == 0 {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

impl<S, T> FusedStream for UnionAll<S>
where
    S: LocalStream<Item = T>,
{
    fn is_terminated(&self) -> bool {
        self.live == 0
    }
}

impl<S> std::fmt::Debug for UnionAll<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnionAll")
            .field("inputs", &self.inputs.len())
            .field("live", &self.live)
            .finish()
    }
}
