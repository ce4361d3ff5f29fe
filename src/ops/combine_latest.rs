//! The latest item of every input, whenever one of them yields: streamz's `combine_latest`.

use std::ops::DerefMut;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::FusedStream;
use pin_project::pin_project;

use super::union::{Polled, YIELD_AFTER, poll_input};
use crate::LocalStream;

/// Which input's items make [`combine_latest_on`](crate::StreamzExt::combine_latest_on) emit
/// (streamz's `emit_on`). The other input's items only update its latest value.
///
/// ```
/// use rivulet::ops::EmitOn;
/// assert_ne!(EmitOn::Left, EmitOn::Both);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EmitOn {
    /// The stream the method is called on.
    Left,
    /// The stream passed as `other`.
    Right,
    /// Either one: [`combine_latest`](crate::StreamzExt::combine_latest).
    #[default]
    Both,
}

impl EmitOn {
    /// Whether an item of side `side` (0: left, 1: right) makes an output.
    fn includes(self, side: usize) -> bool {
        match self {
            EmitOn::Left => side == 0,
            EmitOn::Right => side == 1,
            EmitOn::Both => true,
        }
    }
}

/// One input of a latest-value join: the stream (until it ends) and its latest item, kept after
/// it ends. Also used by `zip_latest`.
#[pin_project]
pub(crate) struct Latest<S: LocalStream> {
    #[pin]
    stream: Option<S>,
    value: Option<S::Item>,
}

impl<S: LocalStream> Latest<S> {
    pub(crate) fn new(stream: S) -> Self {
        Latest {
            stream: Some(stream),
            value: None,
        }
    }

    /// Takes one item, which becomes the latest value.
    pub(crate) fn poll_take(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Polled<()> {
        let this = self.project();
        poll_input(this.stream, cx).map(|x| *this.value = Some(x))
    }

    pub(crate) fn value(&self) -> Option<&S::Item> {
        self.value.as_ref()
    }

    pub(crate) fn ended(&self) -> bool {
        self.stream.is_none()
    }

    /// Drops the stream (keeping the latest value), so it holds up no `emit`.
    pub(crate) fn close(self: Pin<&mut Self>) {
        self.project().stream.set(None);
    }
}

/// What the combine loop needs of a side, whatever its stream type, so that one loop serves two,
/// three or a `Vec` of sides.
trait LatestSide {
    fn poll_take(&mut self, cx: &mut Context<'_>) -> Polled<()>;
    fn has_value(&self) -> bool;
    fn ended(&self) -> bool;
}

impl<P, S> LatestSide for Pin<P>
where
    P: DerefMut<Target = Latest<S>>,
    S: LocalStream,
{
    fn poll_take(&mut self, cx: &mut Context<'_>) -> Polled<()> {
        self.as_mut().poll_take(cx)
    }

    fn has_value(&self) -> bool {
        self.value().is_some()
    }

    fn ended(&self) -> bool {
        Latest::ended(self)
    }
}

impl<T: LatestSide + ?Sized> LatestSide for &mut T {
    fn poll_take(&mut self, cx: &mut Context<'_>) -> Polled<()> {
        (**self).poll_take(cx)
    }

    fn has_value(&self) -> bool {
        (**self).has_value()
    }

    fn ended(&self) -> bool {
        (**self).ended()
    }
}

/// Polls the sides in turn, one item at a time, starting at `*next`, until an item of a side for
/// which `emits` holds arrives while every side has a value (`Ready(true)`: output the latest
/// values), every side has ended (`Ready(false)`), or no side has anything now (`Pending`).
///
/// The output goes out before the side that caused it is polled again, so its emitter waits
/// until the output has been processed downstream (lock-step, as in streamz); an item that makes
/// no output is followed at once by more polls, so its emitter is released within this call.
fn poll_sides<T: LatestSide>(
    sides: &mut [T],
    emits: impl Fn(usize) -> bool,
    next: &mut usize,
    cx: &mut Context<'_>,
) -> Poll<bool> {
    let n = sides.len();
    for _ in 0..YIELD_AFTER {
        if sides.iter().all(LatestSide::ended) {
            return Poll::Ready(false);
        }
        let progressed =
            (0..n)
                .map(|k| (*next + k) % n)
                .find_map(|i| match sides[i].poll_take(cx) {
                    Polled::Idle => None,
                    step => Some((i, step)),
                });
        let Some((i, step)) = progressed else {
            return Poll::Pending;
        };
        *next = (i + 1) % n;
        if matches!(step, Polled::Item(())) && emits(i) && sides.iter().all(LatestSide::has_value) {
            return Poll::Ready(true);
        }
    }
    // Items keep coming without making an output: let the rest of the task run first.
    cx.waker().wake_by_ref();
    Poll::Pending
}

/// Stream for [`StreamzExt::combine_latest`](crate::StreamzExt::combine_latest) and
/// [`combine_latest_on`](crate::StreamzExt::combine_latest_on): the latest item of each of two
/// streams.
///
/// Once both inputs have given an item, every item of an [`EmitOn`] side makes a pair of the
/// latest of each (cloned). It keeps taking from both inputs at all times (it holds only the
/// latest of each), and ends when both inputs have ended; an input that ends keeps its last item.
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct CombineLatest<A: LocalStream, B: LocalStream> {
    #[pin]
    a: Latest<A>,
    #[pin]
    b: Latest<B>,
    emit_on: EmitOn,
    next: usize,
}

impl<A: LocalStream, B: LocalStream> CombineLatest<A, B> {
    pub(crate) fn new(a: A, b: B, emit_on: EmitOn) -> Self {
        CombineLatest {
            a: Latest::new(a),
            b: Latest::new(b),
            emit_on,
            next: 0,
        }
    }
}

impl<A, B, T, U> Stream for CombineLatest<A, B>
where
    A: LocalStream<Item = T>,
    B: LocalStream<Item = U>,
    T: Clone,
    U: Clone,
{
    type Item = (T, U);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<(T, U)>> {
        let this = self.project();
        let (mut a, mut b) = (this.a, this.b);
        let emit_on = *this.emit_on;
        let sides: &mut [&mut dyn LatestSide] = &mut [&mut a, &mut b];
        let emit = futures::ready!(poll_sides(sides, |i| emit_on.includes(i), this.next, cx));
        // After `Ready(true)` every side has a value, so this is `Some`.
        Poll::Ready(if emit {
            a.value().cloned().zip(b.value().cloned())
        } else {
            None
        })
    }
}

impl<A, B, T, U> FusedStream for CombineLatest<A, B>
where
    A: LocalStream<Item = T>,
    B: LocalStream<Item = U>,
    T: Clone,
    U: Clone,
{
    fn is_terminated(&self) -> bool {
        self.a.ended() && self.b.ended()
    }
}

impl<A: LocalStream, B: LocalStream> std::fmt::Debug for CombineLatest<A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CombineLatest")
            .field("emit_on", &self.emit_on)
            .field("a_has_value", &self.a.value().is_some())
            .field("b_has_value", &self.b.value().is_some())
            .finish()
    }
}

/// Stream for [`combine_latest3`](crate::combine_latest3): the latest item of each of three
/// streams, on every item of any of them once all three have one.
///
/// It ends when all three inputs have ended.
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct CombineLatest3<A: LocalStream, B: LocalStream, C: LocalStream> {
    #[pin]
    a: Latest<A>,
    #[pin]
    b: Latest<B>,
    #[pin]
    c: Latest<C>,
    next: usize,
}

impl<A: LocalStream, B: LocalStream, C: LocalStream> CombineLatest3<A, B, C> {
    pub(crate) fn new(a: A, b: B, c: C) -> Self {
        CombineLatest3 {
            a: Latest::new(a),
            b: Latest::new(b),
            c: Latest::new(c),
            next: 0,
        }
    }
}

impl<A, B, C, T, U, V> Stream for CombineLatest3<A, B, C>
where
    A: LocalStream<Item = T>,
    B: LocalStream<Item = U>,
    C: LocalStream<Item = V>,
    T: Clone,
    U: Clone,
    V: Clone,
{
    type Item = (T, U, V);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<(T, U, V)>> {
        let this = self.project();
        let (mut a, mut b, mut c) = (this.a, this.b, this.c);
        let sides: &mut [&mut dyn LatestSide] = &mut [&mut a, &mut b, &mut c];
        let emit = futures::ready!(poll_sides(sides, |_| true, this.next, cx));
        // After `Ready(true)` every side has a value, so this is `Some`.
        let triple = || Some((a.value()?.clone(), b.value()?.clone(), c.value()?.clone()));
        Poll::Ready(if emit { triple() } else { None })
    }
}

impl<A, B, C, T, U, V> FusedStream for CombineLatest3<A, B, C>
where
    A: LocalStream<Item = T>,
    B: LocalStream<Item = U>,
    C: LocalStream<Item = V>,
    T: Clone,
    U: Clone,
    V: Clone,
{
    fn is_terminated(&self) -> bool {
        self.a.ended() && self.b.ended() && self.c.ended()
    }
}

impl<A: LocalStream, B: LocalStream, C: LocalStream> std::fmt::Debug for CombineLatest3<A, B, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CombineLatest3")
            .field("a_has_value", &self.a.value().is_some())
            .field("b_has_value", &self.b.value().is_some())
            .field("c_has_value", &self.c.value().is_some())
            .finish()
    }
}

/// Stream for [`combine_latest_all`](crate::combine_latest_all): a `Vec` with the latest item of
/// every input, on every item of any of them once all have one.
///
/// It ends when every input has ended (at once when there are none).
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct CombineLatestAll<S: LocalStream> {
    /// Each side is boxed so that a `Vec` of them can be polled in place.
    sides: Vec<Pin<Box<Latest<S>>>>,
    next: usize,
}

impl<S: LocalStream> CombineLatestAll<S> {
    pub(crate) fn new(inputs: impl IntoIterator<Item = S>) -> Self {
        CombineLatestAll {
            sides: inputs
                .into_iter()
                .map(|s| Box::pin(Latest::new(s)))
                .collect(),
            next: 0,
        }
    }
}

impl<S, T> Stream for CombineLatestAll<S>
where
    S: LocalStream<Item = T>,
    T: Clone,
{
    type Item = Vec<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Vec<T>>> {
        let this = self.project();
        let emit = futures::ready!(poll_sides(this.sides, |_| true, this.next, cx));
        // After `Ready(true)` every side has a value, so this is `Some`.
        Poll::Ready(if emit {
            this.sides
                .iter()
                .map(|side| side.value().cloned())
                .collect()
        } else {
            None
        })
    }
}

impl<S, T> FusedStream for CombineLatestAll<S>
where
    S: LocalStream<Item = T>,
    T: Clone,
{
    fn is_terminated(&self) -> bool {
        self.sides.iter().all(|side| side.ended())
    }
}

impl<S: LocalStream> std::fmt::Debug for CombineLatestAll<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let with_value = self
            .sides
            .iter()
            .filter(|side| side.value().is_some())
            .count();
        f.debug_struct("CombineLatestAll")
            .field("inputs", &self.sides.len())
            .field("with_value", &with_value)
            .finish()
    }
}
