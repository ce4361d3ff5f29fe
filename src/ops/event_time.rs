//! Tag items with their own time and a watermark: [`StreamzExt::event_time`](crate::StreamzExt::event_time).
//!
//! This file holds what the three event-time windows share: the [`Timestamp`] trait, the
//! [`Windowed`] output, the [`EventTime`] stream and the loop that drives a window state
//! (tumbling and sliding in `event_fixed.rs`, sessions in `event_session.rs`).

use std::collections::VecDeque;
use std::fmt::Debug;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::Stream;
use pin_project::pin_project;
use tokio::time::Instant;

use super::call_user;
use super::event_fixed::{SlidingWindows, TumblingWindows};
use super::event_session::SessionWindows;
use super::timer::{READY_BUDGET, Timer, assert_nonzero_duration, deadline_after};

/// A point in event time: what [`event_time`](crate::StreamzExt::event_time)'s closure returns.
///
/// Implemented for `u64` and `i64`, whose spans (window sizes, delays, gaps) are the same integer
/// type, and for [`SystemTime`], whose spans are [`Duration`]s. Windows are aligned to zero (the
/// epoch for `SystemTime`). For `i64`, a negative delay or lateness counts as zero (and a
/// negative size or gap panics, as zero does). Implement it for a type of your own with the same
/// rules: arithmetic saturates at the ends of the type, and
/// [`window_start`](Timestamp::window_start) rounds down.
///
/// ```
/// use rivulet::Timestamp;
/// assert_eq!(Timestamp::window_start(17_u64, 10), 10);
/// assert_eq!(Timestamp::window_start(-3_i64, 10), -10);
/// assert_eq!(Timestamp::saturating_sub_delta(3_u64, 5), 0);
/// ```
pub trait Timestamp: Copy + Ord + Debug {
    /// A span of event time: window sizes, gaps, delays and lateness.
    type Delta: Copy + Ord + Debug;

    /// The empty span.
    const ZERO: Self::Delta;

    /// `self + d`, saturating at the largest timestamp.
    fn saturating_add_delta(self, d: Self::Delta) -> Self;

    /// `self - d`, saturating at the smallest timestamp.
    fn saturating_sub_delta(self, d: Self::Delta) -> Self;

    /// The start of the window of `size` that holds `self`, windows being aligned to zero:
    /// the largest multiple of `size` that is not after `self` (saturating). `size` is positive.
    fn window_start(self, size: Self::Delta) -> Self;
}

impl Timestamp for u64 {
    type Delta = u64;
    const ZERO: u64 = 0;

    fn saturating_add_delta(self, d: u64) -> u64 {
        self.saturating_add(d)
    }

    fn saturating_sub_delta(self, d: u64) -> u64 {
        self.saturating_sub(d)
    }

    fn window_start(self, size: u64) -> u64 {
        self - self % size.max(1)
    }
}

impl Timestamp for i64 {
    type Delta = i64;
    const ZERO: i64 = 0;

    /// A negative `d` is taken as zero.
    fn saturating_add_delta(self, d: i64) -> i64 {
        self.saturating_add(d.max(0))
    }

    /// A negative `d` is taken as zero.
    fn saturating_sub_delta(self, d: i64) -> i64 {
        self.saturating_sub(d.max(0))
    }

    fn window_start(self, size: i64) -> i64 {
        self.saturating_sub(self.rem_euclid(size.max(1)))
    }
}

/// The latest (or earliest) `SystemTime` this platform holds, found once by bisection.
fn system_time_limit(later: bool) -> SystemTime {
    static LIMITS: OnceLock<(SystemTime, SystemTime)> = OnceLock::new();
    let (min, max) = *LIMITS.get_or_init(|| {
        let step = |d: Duration, later: bool| {
            if later {
                UNIX_EPOCH.checked_add(d)
            } else {
                UNIX_EPOCH.checked_sub(d)
            }
        };
        let limit = |later: bool| {
            let (mut lo, mut hi) = (0_u64, u64::MAX);
            while lo < hi {
                let mid = lo + (hi - lo).div_ceil(2);
                if step(Duration::from_secs(mid), later).is_some() {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            let whole = Duration::from_secs(lo);
            step(whole + Duration::from_nanos(999_999_999), later)
                .or_else(|| step(whole, later))
                .unwrap_or(UNIX_EPOCH)
        };
        (limit(false), limit(true))
    });
    if later { max } else { min }
}

/// `n` nanoseconds as a `Duration` (n fits: it is at most a `SystemTime`'s span).
fn nanos(n: u128) -> Duration {
    let secs = u64::try_from(n / 1_000_000_000).unwrap_or(u64::MAX);
    // The remainder is below 10^9, so it fits a u32.
    let sub = u32::try_from(n % 1_000_000_000).unwrap_or(0);
    Duration::new(secs, sub)
}

impl Timestamp for SystemTime {
    type Delta = Duration;
    const ZERO: Duration = Duration::ZERO;

    fn saturating_add_delta(self, d: Duration) -> SystemTime {
        self.checked_add(d)
            .unwrap_or_else(|| system_time_limit(true))
    }

    fn saturating_sub_delta(self, d: Duration) -> SystemTime {
        self.checked_sub(d)
            .unwrap_or_else(|| system_time_limit(false))
    }

    fn window_start(self, size: Duration) -> SystemTime {
        let size = size.as_nanos().max(1);
        match self.duration_since(UNIX_EPOCH) {
            Ok(after) => {
                let n = after.as_nanos();
                UNIX_EPOCH + nanos(n - n % size)
            }
            Err(before) => {
                let n = before.duration().as_nanos();
                UNIX_EPOCH.saturating_sub_delta(nanos(n.div_ceil(size).saturating_mul(size)))
            }
        }
    }
}

/// What an event-time window stream yields: a closed window, or an item that came too late for
/// its windows.
///
/// `K` is the key (`()` unless the windows are [`keyed`](TumblingWindows::keyed)) and `Ts` the
/// timestamp type. Windows cover `[start, end)`; their `items` are in the order they arrived.
///
/// ```
/// use rivulet::Windowed;
/// let w: Windowed<&str> = Windowed::Window { start: 0, end: 10, key: (), items: vec!["a"] };
/// assert_eq!(w.items(), Some(&["a"][..]));
/// assert!(Windowed::<&str>::Late("b").is_late());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Windowed<T, K = (), Ts = u64> {
    /// A window, once the watermark has passed its end plus the allowed lateness, or when the
    /// upstream ends (or after the idle timeout).
    Window {
        /// Its first instant (included).
        start: Ts,
        /// Its end (excluded).
        end: Ts,
        /// The key of its items.
        key: K,
        /// Its items, in the order they arrived.
        items: Vec<T>,
    },
    /// An item whose windows had all closed when it arrived. Nothing late is dropped silently:
    /// late items come out as this, unless the caller chose to have them only counted
    /// (`count_late` on the window stream).
    Late(T),
}

impl<T, K, Ts> Windowed<T, K, Ts> {
    /// Whether this is a [`Late`](Windowed::Late) item.
    ///
    /// ```
    /// assert!(rivulet::Windowed::<i32>::Late(1).is_late());
    /// ```
    pub fn is_late(&self) -> bool {
        matches!(self, Windowed::Late(_))
    }

    /// The items of a window; `None` for a late item.
    ///
    /// ```
    /// let w: rivulet::Windowed<i32> = rivulet::Windowed::Late(1);
    /// assert_eq!(w.items(), None);
    /// ```
    pub fn items(&self) -> Option<&[T]> {
        match self {
            Windowed::Window { items, .. } => Some(items),
            Windowed::Late(_) => None,
        }
    }
}

/// Stream for [`StreamzExt::event_time`](crate::StreamzExt::event_time): items with their own
/// time, and a watermark. Choose windows on it with [`tumbling`](EventTime::tumbling),
/// [`sliding`](EventTime::sliding) or [`session`](EventTime::session); polled as it is, it
/// yields each item with its timestamp, `(ts, item)`, and follows the
/// [`watermark`](EventTime::watermark).
///
/// The watermark is the largest timestamp seen minus `max_delay` (saturating). A window closes,
/// and comes out, once the watermark is strictly past its end plus its allowed lateness.
///
/// ```
/// use rivulet::prelude::*;
/// # futures::executor::block_on(async {
/// let mut tagged = futures::stream::iter(["a:3", "b:9", "c:4"])
///     .event_time(|s| s[2..].parse::<u64>().unwrap_or(0), 2);
/// assert_eq!(tagged.watermark(), None);
/// assert_eq!(tagged.next().await, Some((3, "a:3")));
/// assert_eq!(tagged.next().await, Some((9, "b:9")));
/// assert_eq!(tagged.next().await, Some((4, "c:4")));
/// assert_eq!(tagged.watermark(), Some(7));
/// # });
/// ```
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct EventTime<S, F, Ts: Timestamp> {
    #[pin]
    stream: S,
    ts_fn: F,
    max_delay: Ts::Delta,
    idle_timeout: Option<Duration>,
    watermark: Option<Ts>,
}

impl<S, F, Ts: Timestamp> EventTime<S, F, Ts> {
    pub(crate) fn new(stream: S, ts_fn: F, max_delay: Ts::Delta) -> Self {
        EventTime {
            stream,
            ts_fn,
            max_delay,
            idle_timeout: None,
            watermark: None,
        }
    }

    /// The watermark so far: the largest timestamp seen minus `max_delay`; `None` before the
    /// first item. (The windows keep their own watermark.)
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let mut tagged = futures::stream::iter([10_i64]).event_time(|x| *x, 4);
    /// tagged.next().await;
    /// assert_eq!(tagged.watermark(), Some(6));
    /// # });
    /// ```
    pub fn watermark(&self) -> Option<Ts> {
        self.watermark
    }

    /// After `d` of processing time (tokio's clock) without an item, the watermark moves past
    /// every open window, so they all come out: a quiet source does not hold its windows open.
    /// Items that come later for those windows are [`Late`](Windowed::Late). Off by default.
    ///
    /// # Panics
    /// If `d` is zero (`idle_timeout` must be at least 1ns).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let source = Source::new();
    /// let windows = source
    ///     .stream()
    ///     .event_time(|x: &u64| *x, 5)
    ///     .idle_timeout(Duration::from_secs(1))
    ///     .tumbling(10)
    ///     .sink_to_list();
    /// source.emit(3).await.unwrap(); // the watermark (0) holds [0, 10) open...
    /// assert!(windows.is_empty());
    /// tokio::time::sleep(Duration::from_secs(2)).await; // ...until the source has been idle
    /// assert_eq!(windows.len(), 1);
    /// # }
    /// ```
    #[track_caller]
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        assert_nonzero_duration(d, "idle_timeout", "d");
        self.idle_timeout = Some(d);
        self
    }

    /// Tumbling windows of `size`, aligned to zero: `[0, size)`, `[size, 2 * size)`, ...
    /// Empty windows are not emitted.
    ///
    /// # Panics
    /// If `size` is not positive (`size` must be at least 1).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use rivulet::Windowed;
    /// # futures::executor::block_on(async {
    /// let out: Vec<Windowed<u64>> =
    ///     futures::stream::iter([1, 12, 5, 25]).event_time(|x| *x, 5).tumbling(10).collect().await;
    /// assert_eq!(
    ///     out,
    ///     vec![
    ///         Windowed::Window { start: 0, end: 10, key: (), items: vec![1, 5] },
    ///         Windowed::Window { start: 10, end: 20, key: (), items: vec![12] },
    ///         Windowed::Window { start: 20, end: 30, key: (), items: vec![25] },
    ///     ]
    /// );
    /// # });
    /// ```
    #[track_caller]
    pub fn tumbling(self, size: Ts::Delta) -> TumblingWindows<S, F, Ts, (), Unkeyed<S::Item>>
    where
        S: Stream,
    {
        assert_positive::<Ts>(size, "tumbling", "size");
        TumblingWindows::new(
            self.into_core(unit_key::<S::Item> as Unkeyed<S::Item>),
            size,
        )
    }

    /// Sliding (hopping) windows of `size`, one starting every `every`, aligned to zero: an item
    /// is in every window that holds its timestamp, so items are cloned. An item some of whose
    /// windows have closed goes into the others; it is [`Late`](Windowed::Late) only when all
    /// have closed.
    ///
    /// # Panics
    /// If `size` or `every` is not positive (each must be at least 1), or if `every` is larger
    /// than `size` (the gaps between windows would swallow items).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use rivulet::Windowed;
    /// # futures::executor::block_on(async {
    /// let out: Vec<Windowed<u64>> =
    ///     futures::stream::iter([1, 6]).event_time(|x| *x, 0).sliding(10, 5).collect().await;
    /// let spans: Vec<(u64, u64, Vec<u64>)> = out
    ///     .into_iter()
    ///     .filter_map(|w| match w {
    ///         Windowed::Window { start, end, items, .. } => Some((start, end, items)),
    ///         Windowed::Late(_) => None,
    ///     })
    ///     .collect();
    /// assert_eq!(spans, vec![(0, 10, vec![1, 6]), (5, 15, vec![6])]);
    /// # });
    /// ```
    #[track_caller]
    pub fn sliding(
        self,
        size: Ts::Delta,
        every: Ts::Delta,
    ) -> SlidingWindows<S, F, Ts, (), Unkeyed<S::Item>>
    where
        S: Stream,
    {
        assert_positive::<Ts>(size, "sliding", "size");
        assert_positive::<Ts>(every, "sliding", "every");
        assert!(
            every <= size,
            "sliding: `every` must be at most `size`, got every {every:?} and size {size:?}"
        );
        SlidingWindows::new(
            self.into_core(unit_key::<S::Item> as Unkeyed<S::Item>),
            size,
            every,
        )
    }

    /// Session windows: items whose timestamps are less than `gap` apart (by key, once
    /// [`keyed`](SessionWindows::keyed)) are in one session, covering `[first, last + gap)`.
    /// An item that would join or touch a session that has already come out is
    /// [`Late`](Windowed::Late), as is one whose own `[ts, ts + gap)` has closed.
    ///
    /// # Panics
    /// If `gap` is not positive (`gap` must be at least 1).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use rivulet::Windowed;
    /// # futures::executor::block_on(async {
    /// let out: Vec<Windowed<u64>> =
    ///     futures::stream::iter([1, 3, 20, 4]).event_time(|x| *x, 100).session(5).collect().await;
    /// assert_eq!(
    ///     out,
    ///     vec![
    ///         Windowed::Window { start: 1, end: 9, key: (), items: vec![1, 3, 4] },
    ///         Windowed::Window { start: 20, end: 25, key: (), items: vec![20] },
    ///     ]
    /// );
    /// # });
    /// ```
    #[track_caller]
    pub fn session(self, gap: Ts::Delta) -> SessionWindows<S, F, Ts, (), Unkeyed<S::Item>>
    where
        S: Stream,
    {
        assert_positive::<Ts>(gap, "session", "gap");
        SessionWindows::new(self.into_core(unit_key::<S::Item> as Unkeyed<S::Item>), gap)
    }

    fn into_core<KF>(self, key_fn: KF) -> Core<S, F, KF, Ts>
    where
        S: Stream,
    {
        Core {
            stream: self.stream,
            ts_fn: self.ts_fn,
            key_fn,
            clock: Clock {
                max_delay: self.max_delay,
                lateness: Ts::ZERO,
                watermark: self.watermark,
                idle_mark: None,
            },
            idle_timeout: self.idle_timeout,
            idle_deadline: None,
            timer: Timer::default(),
            late: 0,
            emit_late: true,
            done: false,
        }
    }
}

impl<S, F, Ts> Stream for EventTime<S, F, Ts>
where
    S: Stream,
    F: FnMut(&S::Item) -> Ts,
    Ts: Timestamp,
{
    type Item = (Ts, S::Item);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let Some(x) = futures::ready!(this.stream.poll_next(cx)) else {
            return Poll::Ready(None);
        };
        let ts = call_user("event_time", || (this.ts_fn)(&x));
        let w = ts.saturating_sub_delta(*this.max_delay);
        if this.watermark.is_none_or(|old| w > old) {
            *this.watermark = Some(w);
        }
        Poll::Ready(Some((ts, x)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}

impl<S: Debug, F, Ts: Timestamp> Debug for EventTime<S, F, Ts> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventTime")
            .field("stream", &self.stream)
            .field("max_delay", &self.max_delay)
            .field("idle_timeout", &self.idle_timeout)
            .field("watermark", &self.watermark)
            .finish_non_exhaustive()
    }
}

/// The key function of event-time windows that are not
/// [`keyed`](TumblingWindows::keyed): every item has the key `()`.
pub type Unkeyed<T> = fn(&T);

fn unit_key<T>(_: &T) {}

/// Panics unless `d` is a positive span, with the crate's message.
#[track_caller]
fn assert_positive<Ts: Timestamp>(d: Ts::Delta, op: &str, parameter: &str) {
    assert!(
        d > Ts::ZERO,
        "{op}: `{parameter}` must be at least 1, got {d:?}"
    );
}

/// The watermark, and when a window counts as closed.
#[derive(Debug, Clone)]
pub(super) struct Clock<Ts: Timestamp> {
    pub(super) max_delay: Ts::Delta,
    pub(super) lateness: Ts::Delta,
    /// The largest timestamp seen minus `max_delay`; `None` before the first item.
    pub(super) watermark: Option<Ts>,
    /// After an idle timeout: windows whose end plus lateness is at most this are closed.
    pub(super) idle_mark: Option<Ts>,
}

impl<Ts: Timestamp> Clock<Ts> {
    /// Whether a window ending at `end` has closed.
    pub(super) fn closed(&self, end: Ts) -> bool {
        let due = end.saturating_add_delta(self.lateness);
        self.watermark.is_some_and(|w| w > due) || self.idle_mark.is_some_and(|m| m >= due)
    }

    fn observe(&mut self, ts: Ts) {
        let w = ts.saturating_sub_delta(self.max_delay);
        if self.watermark.is_none_or(|old| w > old) {
            self.watermark = Some(w);
        }
    }
}

/// What a window family keeps between items.
pub(super) trait WindowState<T, K, Ts: Timestamp> {
    /// Puts `x` in its open windows, or gives it back when its windows have all closed.
    fn insert(&mut self, x: T, ts: Ts, key: K, clock: &Clock<Ts>) -> Option<T>;
    /// Moves the windows that `clock` says are closed to `out`, in order of end, then key.
    fn close(&mut self, clock: &Clock<Ts>, out: &mut VecDeque<Windowed<T, K, Ts>>);
    /// Moves every open window to `out`, in order of end, then key.
    fn close_all(&mut self, out: &mut VecDeque<Windowed<T, K, Ts>>);
    /// The largest end among the open windows.
    fn last_end(&self) -> Option<Ts>;
}

/// The loop every event-time window runs, over the state of its family.
#[pin_project]
pub(super) struct Core<S, F, KF, Ts: Timestamp> {
    #[pin]
    pub(super) stream: S,
    pub(super) ts_fn: F,
    pub(super) key_fn: KF,
    pub(super) clock: Clock<Ts>,
    idle_timeout: Option<Duration>,
    /// When the idle timeout fires, if it is armed.
    idle_deadline: Option<Instant>,
    timer: Timer,
    /// How many items were late.
    pub(super) late: u64,
    /// Whether late items come out as [`Windowed::Late`], or are only counted.
    pub(super) emit_late: bool,
    /// The upstream has ended.
    done: bool,
}

impl<S, F, KF, Ts: Timestamp> Core<S, F, KF, Ts> {
    /// The same core with another key function.
    pub(super) fn with_key<KF2>(self, key_fn: KF2) -> Core<S, F, KF2, Ts> {
        Core {
            stream: self.stream,
            ts_fn: self.ts_fn,
            key_fn,
            clock: self.clock,
            idle_timeout: self.idle_timeout,
            idle_deadline: self.idle_deadline,
            timer: self.timer,
            late: self.late,
            emit_late: self.emit_late,
            done: self.done,
        }
    }

    /// One poll: hands out what is ready, takes what the upstream has, and closes windows.
    ///
    /// It takes every ready item (up to [`READY_BUDGET`]) and closes what each closes before it
    /// looks at the next, and hands closed windows out before it polls the upstream again, so a
    /// rendezvous `emit` returns once the windows it closed have been processed.
    pub(super) fn poll_windows<K, W>(
        self: Pin<&mut Self>,
        state: &mut W,
        ready: &mut VecDeque<Windowed<S::Item, K, Ts>>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Windowed<S::Item, K, Ts>>>
    where
        S: Stream,
        F: FnMut(&S::Item) -> Ts,
        KF: FnMut(&S::Item) -> K,
        W: WindowState<S::Item, K, Ts>,
    {
        let mut this = self.project();
        if let Some(out) = ready.pop_front() {
            return Poll::Ready(Some(out));
        }
        if *this.done {
            return Poll::Ready(None);
        }
        let mut taken = 0;
        while taken < READY_BUDGET {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(x)) => {
                    taken += 1;
                    let ts = call_user("event_time", || (this.ts_fn)(&x));
                    let key = call_user("keyed", || (this.key_fn)(&x));
                    if let Some(late) = state.insert(x, ts, key, this.clock) {
                        *this.late += 1;
                        if *this.emit_late {
                            ready.push_back(Windowed::Late(late));
                        }
                    }
                    this.clock.observe(ts);
                    state.close(this.clock, ready);
                    *this.idle_deadline = this.idle_timeout.map(deadline_after);
                    if let Some(out) = ready.pop_front() {
                        return Poll::Ready(Some(out));
                    }
                }
                Poll::Ready(None) => {
                    *this.done = true;
                    state.close_all(ready);
                    return Poll::Ready(ready.pop_front());
                }
                Poll::Pending => break,
            }
        }
        if taken == READY_BUDGET {
            // More may be ready upstream, and nothing else would wake us for it.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if let Some(deadline) = *this.idle_deadline {
            if this.timer.poll_until(deadline, cx).is_ready() {
                *this.idle_deadline = None;
                if let Some(end) = state.last_end() {
                    let mark = end.saturating_add_delta(this.clock.lateness);
                    if this.clock.idle_mark.is_none_or(|old| mark > old) {
                        this.clock.idle_mark = Some(mark);
                    }
                    state.close(this.clock, ready);
                }
                if let Some(out) = ready.pop_front() {
                    return Poll::Ready(Some(out));
                }
            }
        }
        Poll::Pending
    }
}

impl<S: Debug, F, KF, Ts: Timestamp> Debug for Core<S, F, KF, Ts> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventTime")
            .field("stream", &self.stream)
            .field("clock", &self.clock)
            .field("idle_timeout", &self.idle_timeout)
            .field("late", &self.late)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
