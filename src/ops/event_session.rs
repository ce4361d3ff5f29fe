//! Session windows in event time: [`EventTime::session`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Debug;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use pin_project::pin_project;

#[cfg(doc)]
use super::event_time::EventTime;
use super::event_time::{Clock, Core, Timestamp, WindowState, Windowed};

/// An open session: its end (the last timestamp plus the gap) and its items with their arrival
/// numbers, so that merged sessions come out in arrival order.
struct Session<T, Ts> {
    end: Ts,
    items: Vec<(u64, T)>,
}

/// The open sessions, and the recently closed ones that an item could still touch.
struct SessionState<T, K, Ts: Timestamp> {
    gap: Ts::Delta,
    /// Open sessions by key and start; those of one key are disjoint.
    open: BTreeMap<(K, Ts), Session<T, Ts>>,
    /// The open sessions by end, key and start: the order they close in.
    by_end: BTreeSet<(Ts, K, Ts)>,
    /// Sessions already out, by key and start, with their end. An item that touches one of them
    /// is late. One is forgotten once the watermark is past its end plus the gap: any item that
    /// could touch it then has its own window closed, so it is late anyway.
    closed: BTreeMap<(K, Ts), Ts>,
    closed_by_end: BTreeSet<(Ts, K, Ts)>,
    /// The next arrival number.
    seq: u64,
}

impl<T, K: Ord + Clone, Ts: Timestamp> SessionState<T, K, Ts> {
    fn new(gap: Ts::Delta) -> Self {
        SessionState {
            gap,
            open: BTreeMap::new(),
            by_end: BTreeSet::new(),
            closed: BTreeMap::new(),
            closed_by_end: BTreeSet::new(),
            seq: 0,
        }
    }

    fn emit(start: Ts, end: Ts, key: K, session: Session<T, Ts>) -> Windowed<T, K, Ts> {
        let mut items = session.items;
        items.sort_by_key(|(seq, _)| *seq);
        Windowed::Window {
            start,
            end,
            key,
            items: items.into_iter().map(|(_, x)| x).collect(),
        }
    }
}

impl<T, K: Ord + Clone, Ts: Timestamp> WindowState<T, K, Ts> for SessionState<T, K, Ts> {
    fn insert(&mut self, x: T, ts: Ts, key: K, clock: &Clock<Ts>) -> Option<T> {
        let mut start = ts;
        let mut end = ts.saturating_add_delta(self.gap);
        if clock.closed(end) {
            return Some(x);
        }
        // The closed session of this key that starts last before `end` is the only one that
        // can overlap [ts, end): they are disjoint.
        if let Some(((k, _), &closed_end)) = self.closed.range(..(key.clone(), end)).next_back() {
            if *k == key && closed_end > ts {
                return Some(x);
            }
        }
        let seq = self.seq;
        self.seq += 1;
        // The common case: the item falls in, or extends to the right, the session that starts
        // last before `end`. No other session can overlap then: those that start earlier end
        // before that session starts, and none starts between it and `end`.
        if let Some(((k, s), session)) = self.open.range_mut(..(key.clone(), end)).next_back() {
            if *k == key && session.end > ts && *s <= ts {
                let s = *s;
                session.items.push((seq, x));
                if end > session.end {
                    self.by_end.remove(&(session.end, key.clone(), s));
                    session.end = end;
                    self.by_end.insert((end, key, s));
                }
                return None;
            }
        }
        let mut items = vec![(seq, x)];
        while let Some(((k, s), session)) = self.open.range(..(key.clone(), end)).next_back() {
            if *k != key || session.end <= start {
                break;
            }
            let s = *s;
            let Some(session) = self.open.remove(&(key.clone(), s)) else {
                break;
            };
            self.by_end.remove(&(session.end, key.clone(), s));
            start = start.min(s);
            end = end.max(session.end);
            if items.len() < session.items.len() {
                let mut merged = session.items;
                merged.append(&mut items);
                items = merged;
            } else {
                items.extend(session.items);
            }
        }
        self.by_end.insert((end, key.clone(), start));
        self.open.insert((key, start), Session { end, items });
        None
    }

    fn close(&mut self, clock: &Clock<Ts>, out: &mut VecDeque<Windowed<T, K, Ts>>) {
        while let Some((end, key, start)) = self.by_end.first().cloned() {
            if !clock.closed(end) {
                break;
            }
            self.by_end.pop_first();
            if let Some(session) = self.open.remove(&(key.clone(), start)) {
                self.closed.insert((key.clone(), start), end);
                self.closed_by_end.insert((end, key.clone(), start));
                out.push_back(Self::emit(start, end, key, session));
            }
        }
        while let Some((end, key, start)) = self.closed_by_end.first().cloned() {
            if !clock.closed(end.saturating_add_delta(self.gap)) {
                break;
            }
            self.closed_by_end.pop_first();
            self.closed.remove(&(key, start));
        }
    }

    fn close_all(&mut self, out: &mut VecDeque<Windowed<T, K, Ts>>) {
        let mut open = std::mem::take(&mut self.open);
        for (end, key, start) in std::mem::take(&mut self.by_end) {
            if let Some(session) = open.remove(&(key.clone(), start)) {
                out.push_back(Self::emit(start, end, key, session));
            }
        }
    }

    fn last_end(&self) -> Option<Ts> {
        self.by_end.last().map(|(end, _, _)| *end)
    }
}

/// Stream for [`EventTime::session`]: sessions of items less than a gap apart in event time,
/// each emitted once the watermark has passed its end (plus the allowed lateness), and late
/// items as [`Windowed::Late`].
///
/// It takes every item as it comes, so a rendezvous `emit` upstream never waits on a window.
/// What it holds is bounded by the open sessions and the closed ones the watermark has not yet
/// passed by a gap.
#[pin_project]
#[must_use = "streams do nothing unless polled"]
pub struct SessionWindows<S: Stream, F, Ts: Timestamp, K, KF> {
    #[pin]
    core: Core<S, F, KF, Ts>,
    state: SessionState<S::Item, K, Ts>,
    ready: VecDeque<Windowed<S::Item, K, Ts>>,
}

impl<S: Stream, F, Ts: Timestamp, KF> SessionWindows<S, F, Ts, (), KF> {
    pub(super) fn new(core: Core<S, F, KF, Ts>, gap: Ts::Delta) -> Self {
        SessionWindows {
            core,
            state: SessionState::new(gap),
            ready: VecDeque::new(),
        }
    }
}

impl<S: Stream, F, Ts: Timestamp, K: Ord + Clone, KF> SessionWindows<S, F, Ts, K, KF> {
    /// Sessions per key: items with different keys never share a session, and sessions that
    /// close together come out in order of key. Call it before the first poll.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use rivulet::Windowed;
    /// # futures::executor::block_on(async {
    /// let visits = futures::stream::iter([("ann", 1_u64), ("bob", 2), ("ann", 4), ("ann", 30)]);
    /// let out: Vec<Windowed<(&str, u64), &str>> =
    ///     visits.event_time(|v| v.1, 100).session(10).keyed(|v| v.0).collect().await;
    /// assert_eq!(
    ///     out,
    ///     vec![
    ///         Windowed::Window { start: 2, end: 12, key: "bob", items: vec![("bob", 2)] },
    ///         Windowed::Window { start: 1, end: 14, key: "ann", items: vec![("ann", 1), ("ann", 4)] },
    ///         Windowed::Window { start: 30, end: 40, key: "ann", items: vec![("ann", 30)] },
    ///     ]
    /// );
    /// # });
    /// ```
    pub fn keyed<K2, KF2>(self, key_fn: KF2) -> SessionWindows<S, F, Ts, K2, KF2>
    where
        K2: Ord + Clone,
        KF2: FnMut(&S::Item) -> K2,
    {
        SessionWindows {
            core: self.core.with_key(key_fn),
            state: SessionState::new(self.state.gap),
            ready: VecDeque::new(),
        }
    }

    /// Holds each session open until the watermark is past its end plus `d`, so items up to `d`
    /// behind can still join it. Default: zero.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let out: Vec<_> = futures::stream::iter([1_u64, 20, 3])
    ///     .event_time(|x| *x, 0)
    ///     .session(5)
    ///     .allowed_lateness(20)
    ///     .collect()
    ///     .await;
    /// assert_eq!(out[0].items(), Some(&[1, 3][..]));
    /// # });
    /// ```
    pub fn allowed_lateness(mut self, d: Ts::Delta) -> Self {
        self.core.clock.lateness = d;
        self
    }

    /// Late items are only counted ([`late_count`](Self::late_count)) instead of coming out as
    /// [`Windowed::Late`]: the stream yields sessions only.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let mut sessions =
    ///     futures::stream::iter([20_u64, 1]).event_time(|x| *x, 0).session(5).count_late();
    /// assert!(!sessions.next().await.unwrap().is_late());
    /// assert_eq!(sessions.late_count(), 1);
    /// # });
    /// ```
    pub fn count_late(mut self) -> Self {
        self.core.emit_late = false;
        self
    }

    /// How many items have been late so far (come out as [`Late`](Windowed::Late), or only
    /// counted after [`count_late`](Self::count_late)).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let mut sessions = futures::stream::iter([20_u64, 1]).event_time(|x| *x, 0).session(5);
    /// assert_eq!(sessions.next().await, Some(rivulet::Windowed::Late(1)));
    /// assert_eq!(sessions.late_count(), 1);
    /// # });
    /// ```
    pub fn late_count(&self) -> u64 {
        self.core.late
    }
}

impl<S, F, Ts, K, KF> Stream for SessionWindows<S, F, Ts, K, KF>
where
    S: Stream,
    F: FnMut(&S::Item) -> Ts,
    KF: FnMut(&S::Item) -> K,
    Ts: Timestamp,
    K: Ord + Clone,
{
    type Item = Windowed<S::Item, K, Ts>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        this.core.poll_windows(this.state, this.ready, cx)
    }
}

impl<S, F, Ts, K, KF> Debug for SessionWindows<S, F, Ts, K, KF>
where
    S: Stream + Debug,
    Ts: Timestamp,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWindows")
            .field("core", &self.core)
            .field("gap", &self.state.gap)
            .field("open", &self.state.open.len())
            .field("ready", &self.ready.len())
            .finish_non_exhaustive()
    }
}
