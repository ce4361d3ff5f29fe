//! Pair the items of several streams in order: streamz's `zip`.

use std::collections::VecDeque;
use std::ops::DerefMut;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::FusedStream;
use pin_project::pin_project;

use super::union::{Polled, poll_input};
use crate::LocalStream;

/// How many unmatched items a side of a zip holds with their emits complete (streamz's
/// `maxsize`). A zip comes back to a side right after taking from it while the side holds at most
/// this many, so the next item is taken too, but its emitter is not released (the side is not
/// polled again) until the other sides catch up.
const MAX_UNMATCHED: usize = 10;

/// One input of a zip: the stream (until it ends) and the items it gave that are not paired yet.
#[pin_project]
struct Side<S: LocalStream> {
    #[pin]
    stream: Option<S>,
    held: VecDeque<S::Item>,
}

impl<S: LocalStream> Side<S> {
    fn new(stream: S) -> Self {
        Side {
            stream: Some(stream),
            held: VecDeque::new(),
        }
    }

    fn pop(self: Pin<&mut Self>) -> Option<S::Item> {
        self.project().held.pop_front()
    }

    /// Ended with nothing left to pair: no more tuples can be made.
    fn exhausted(&self) -> bool {
        self.stream.is_none() && self.held.is_empty()
    }
}

/// What the zip loop needs of a side, whatever its stream type, so that one loop serves two,
/// three or a `Vec` of sides.
trait ZipSide {
    /// Takes one item, unless the side already holds more than [`MAX_UNMATCHED`].
    fn poll_take(&mut self, cx: &mut Context<'_>) -> Polled<()>;
    fn has_item(&self) -> bool;
    /// Ended with nothing left to pair: no more tuples can be made.
    fn exhausted(&self) -> bool;
    /// Drops the stream and what it holds, once the zip has ended.
    fn close(&mut self);
}

impl<P, S> ZipSide for Pin<P>
where
    P: DerefMut<Target = Side<S>>,
    S: LocalStream,
{
    fn poll_take(&mut self, cx: &mut Context<'_>) -> Polled<()> {
        let this = self.as_mut().project();
        if this.held.len() > MAX_UNMATCHED {
            return Polled::Idle;
        }
        poll_input(this.stream, cx).map(|x| this.held.push_back(x))
    }

    fn has_item(&self) -> bool {
        !self.held.is_empty()
    }

    fn exhausted(&self) -> bool {
        Side::exhausted(self)
    }

    fn close(&mut self) {
        let mut this = self.as_mut().project();
        this.stream.set(None);
        this.held.clear();
    }
}

impl<T: ZipSide + ?Sized> ZipSide for &mut T {
    fn poll_take(&mut self, cx: &mut Context<'_>) -> Polled<()> {
        (**self).poll_take(cx)
    }

    fn has_item(&self) -> bool {
        (**self).has_item()
    }

    fn exhausted(&self) -> bool {
        (**self).exhausted()
    }

    fn close(&mut self) {
        (**self).close();
    }
}

/// Polls the sides in turn, one item at a time, starting at `*next`, until every side holds an
/// item (`Ready(true)`: pop one from each), a side can never match again (`Ready(false)`: the
/// sides are closed), or no side can take anything now (`Pending`).
///
/// A tuple is handed out as soon as it is complete, before the side that completed it is polled
/// again, so that side's emitter waits until the tuple has been processed downstream (lock-step,
/// as in streamz). Every other item is followed by a poll of the next side in turn, which comes
/// back to the side that gave it within the same call.
fn poll_sides<T: ZipSide>(sides: &mut [T], next: &mut usize, cx: &mut Context<'_>) -> Poll<bool> {
    let n = sides.len();
    loop {
        if n == 0 || sides.iter().any(ZipSide::exhausted) {
            sides.iter_mut().for_each(ZipSide::close);
            return Poll::Ready(false);
        }
        if sides.iter().all(ZipSide::has_item) {
            return Poll::Ready(true);
        }
        // `Idle` from every side means each one either registered the waker or holds its bound
        // (and is polled again once a tuple goes out, which only a poll of ours can cause).
        let progressed = (0..n)
            .map(|k| (*next + k) % n)
            .find(|&i| !matches!(sides[i].poll_take(cx), Polled::Idle));
        match progressed {
            Some(i) => *next = (i + 1) % n,
            None => return Poll::Pending,
        }
    }
}

/// Stream for [`StreamzExt::zip_with`](crate::StreamzExt::zip_with): pairs of the items of two
/// streams, in order.
///
/// Each side holds up to 10 unmatched items with their emits complete; an 11th is taken but
/// its emitter waits until the other side catches up. The zip ends when a side has ended and
/// every item it gave has been paired; the other side's unmatched items are dropped then, with
/// its stream.
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct Zip<A: LocalStream, B: LocalStream> {
    #[pin]
    a: Side<A>,
    #[pin]
    b: Side<B>,
    next: usize,
}

impl<A: LocalStream, B: LocalStream> Zip<A, B> {
    pub(crate) fn new(a: A, b: B) -> Self {
        Zip {
            a: Side::new(a),
            b: Side::new(b),
            next: 0,
        }
    }
}

impl<A, B, T, U> Stream for Zip<A, B>
where
    A: LocalStream<Item = T>,
    B: LocalStream<Item = U>,
{
    type Item = (T, U);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<(T, U)>> {
        let this = self.project();
        let (mut a, mut b) = (this.a, this.b);
        let sides: &mut [&mut dyn ZipSide] = &mut [&mut a, &mut b];
        let complete = futures::ready!(poll_sides(sides, this.next, cx));
        // After `Ready(true)` every side holds an item, so the pops are all `Some`.
        Poll::Ready(if complete { a.pop().zip(b.pop()) } else { None })
    }
}

impl<A, B, T, U> FusedStream for Zip<A, B>
where
    A: LocalStream<Item = T>,
    B: LocalStream<Item = U>,
{
    fn is_terminated(&self) -> bool {
        self.a.exhausted() || self.b.exhausted()
    }
}

impl<A: LocalStream, B: LocalStream> std::fmt::Debug for Zip<A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zip")
            .field("a_held", &self.a.held.len())
            .field("b_held", &self.b.held.len())
            .finish()
    }
}

/// Stream for [`zip3`](crate::zip3): triples of the items of three streams, in order.
///
/// Each side has the bound of [`Zip`] (10 unmatched items). It ends when a side has ended and
/// every item it gave has been used.
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct Zip3<A: LocalStream, B: LocalStream, C: LocalStream> {
    #[pin]
    a: Side<A>,
    #[pin]
    b: Side<B>,
    #[pin]
    c: Side<C>,
    next: usize,
}

impl<A: LocalStream, B: LocalStream, C: LocalStream> Zip3<A, B, C> {
    pub(crate) fn new(a: A, b: B, c: C) -> Self {
        Zip3 {
            a: Side::new(a),
            b: Side::new(b),
            c: Side::new(c),
            next: 0,
        }
    }
}

impl<A, B, C, T, U, V> Stream for Zip3<A, B, C>
where
    A: LocalStream<Item = T>,
    B: LocalStream<Item = U>,
    C: LocalStream<Item = V>,
{
    type Item = (T, U, V);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<(T, U, V)>> {
        let this = self.project();
        let (mut a, mut b, mut c) = (this.a, this.b, this.c);
        let sides: &mut [&mut dyn ZipSide] = &mut [&mut a, &mut b, &mut c];
        let complete = futures::ready!(poll_sides(sides, this.next, cx));
        // After `Ready(true)` every side holds an item, so the pops are all `Some`.
        let triple = || Some((a.pop()?, b.pop()?, c.pop()?));
        Poll::Ready(if complete { triple() } else { None })
    }
}

impl<A, B, C, T, U, V> FusedStream for Zip3<A, B, C>
where
    A: LocalStream<Item = T>,
    B: LocalStream<Item = U>,
    C: LocalStream<Item = V>,
{
    fn is_terminated(&self) -> bool {
        self.a.exhausted() || self.b.exhausted() || self.c.exhausted()
    }
}

impl<A: LocalStream, B: LocalStream, C: LocalStream> std::fmt::Debug for Zip3<A, B, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zip3")
            .field("a_held", &self.a.held.len())
            .field("b_held", &self.b.held.len())
            .field("c_held", &self.c.held.len())
            .finish()
    }
}

/// Stream for [`zip_all`](crate::zip_all): a `Vec` with the next item of every input, in order.
///
/// Each side has the bound of [`Zip`] (10 unmatched items). It ends when a side has ended and
/// every item it gave has been used, and at once when there are no inputs.
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct ZipAll<S: LocalStream> {
    /// Each side is boxed so that a `Vec` of them can be polled in place.
    sides: Vec<Pin<Box<Side<S>>>>,
    next: usize,
}

impl<S: LocalStream> ZipAll<S> {
    pub(crate) fn new(inputs: impl IntoIterator<Item = S>) -> Self {
        ZipAll {
            sides: inputs.into_iter().map(|s| Box::pin(Side::new(s))).collect(),
            next: 0,
        }
    }
}

impl<S, T> Stream for ZipAll<S>
where
    S: LocalStream<Item = T>,
{
    type Item = Vec<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Vec<T>>> {
        let this = self.project();
        let complete = futures::ready!(poll_sides(this.sides, this.next, cx));
        // After `Ready(true)` every side holds an item, so the pops are all `Some`.
        Poll::Ready(if complete {
            this.sides
                .iter_mut()
                .map(|side| side.as_mut().pop())
                .collect()
        } else {
            None
        })
    }
}

impl<S, T> FusedStream for ZipAll<S>
where
    S: LocalStream<Item = T>,
{
    fn is_terminated(&self) -> bool {
        self.sides.is_empty() || self.sides.iter().any(|side| side.exhausted())
    }
}

impl<S: LocalStream> std::fmt::Debug for ZipAll<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held: Vec<usize> = self.sides.iter().map(|side| side.held.len()).collect();
        f.debug_struct("ZipAll").field("held", &held).finish()
    }
}
