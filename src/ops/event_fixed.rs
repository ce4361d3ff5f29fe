//! Tumbling and sliding windows in event time: [`EventTime::tumbling`] and [`EventTime::sliding`].

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use pin_project::pin_project;

#[cfg(doc)]
use super::event_time::EventTime;
use super::event_time::{Clock, Core, Timestamp, WindowState, Windowed};

/// The open windows of one size, by end, key and start: the order they close in.
struct FixedState<T, K, Ts: Timestamp> {
    size: Ts::Delta,
    every: Ts::Delta,
    open: BTreeMap<(Ts, K, Ts), Vec<T>>,
}

impl<T, K: Ord, Ts: Timestamp> FixedState<T, K, Ts> {
    fn new(size: Ts::Delta, every: Ts::Delta) -> Self {
        FixedState {
            size,
            every,
            open: BTreeMap::new(),
        }
    }

    fn close(&mut self, clock: &Clock<Ts>, out: &mut VecDeque<Windowed<T, K, Ts>>) {
        while let Some(entry) = self.open.first_entry() {
            if !clock.closed(entry.key().0) {
                break;
            }
            let ((end, key, start), items) = entry.remove_entry();
            out.push_back(Windowed::Window {
                start,
                end,
                key,
                items,
            });
        }
    }

    fn close_all(&mut self, out: &mut VecDeque<Windowed<T, K, Ts>>) {
        let open = std::mem::take(&mut self.open);
        out.extend(
            open.into_iter()
                .map(|((end, key, start), items)| Windowed::Window {
                    start,
                    end,
                    key,
                    items,
                }),
        );
    }

    fn last_end(&self) -> Option<Ts> {
        self.open.last_key_value().map(|((end, _, _), _)| *end)
    }
}

impl<T, K: Ord, Ts: Timestamp> WindowState<T, K, Ts> for FixedState<T, K, Ts> {
    /// Tumbling: the one window that holds `ts`.
    fn insert(&mut self, x: T, ts: Ts, key: K, clock: &Clock<Ts>) -> Option<T> {
        let start = ts.window_start(self.size);
        let end = start.saturating_add_delta(self.size);
        if clock.closed(end) {
            return Some(x);
        }
        self.open.entry((end, key, start)).or_default().push(x);
        None
    }

    fn close(&mut self, clock: &Clock<Ts>, out: &mut VecDeque<Windowed<T, K, Ts>>) {
        FixedState::close(self, clock, out);
    }

    fn close_all(&mut self, out: &mut VecDeque<Windowed<T, K, Ts>>) {
        FixedState::close_all(self, out);
    }

    fn last_end(&self) -> Option<Ts> {
        FixedState::last_end(self)
    }
}

/// Calls `f(start, end)` for each window of `size`, starting at a multiple of `every`, that
/// holds `ts` and has not closed, latest start first.
fn open_windows<Ts: Timestamp>(
    ts: Ts,
    size: Ts::Delta,
    every: Ts::Delta,
    clock: &Clock<Ts>,
    mut f: impl FnMut(Ts, Ts),
) {
    let mut start = ts.window_start(every);
    loop {
        let end = start.saturating_add_delta(size);
        if !clock.closed(end) {
            f(start, end);
        }
        let earlier = start.saturating_sub_delta(every);
        if earlier == start || earlier.saturating_add_delta(size) <= ts {
            break;
        }
        start = earlier;
    }
}

/// Sliding windows: the same map, an item going into every open window that holds it.
struct SlidingState<T, K, Ts: Timestamp>(FixedState<T, K, Ts>);

impl<T: Clone, K: Ord + Clone, Ts: Timestamp> WindowState<T, K, Ts> for SlidingState<T, K, Ts> {
    fn insert(&mut self, x: T, ts: Ts, key: K, clock: &Clock<Ts>) -> Option<T> {
        let FixedState {
            size, every, open, ..
        } = &mut self.0;
        // One pass counts the open windows that hold `ts`, so that the second can move the
        // item into the last and clone it only for the others.
        let mut open_count = 0_usize;
        open_windows(ts, *size, *every, clock, |_, _| open_count += 1);
        if open_count == 0 {
            return Some(x);
        }
        let mut x = Some(x);
        open_windows(ts, *size, *every, clock, |start, end| {
            open_count -= 1;
            let item = if open_count == 0 { x.take() } else { x.clone() };
            if let Some(item) = item {
                open.entry((end, key.clone(), start))
                    .or_default()
                    .push(item);
            }
        });
        None
    }

    fn close(&mut self, clock: &Clock<Ts>, out: &mut VecDeque<Windowed<T, K, Ts>>) {
        self.0.close(clock, out);
    }

    fn close_all(&mut self, out: &mut VecDeque<Windowed<T, K, Ts>>) {
        self.0.close_all(out);
    }

    fn last_end(&self) -> Option<Ts> {
        self.0.last_end()
    }
}

macro_rules! fixed_windows {
    ($(#[$doc:meta])* $name:ident, $state:ident, $call:literal, [$($item_bound:tt)*], [$($key_bound:tt)*], $keyed_example:literal) => {
        $(#[$doc])*
        #[pin_project]
        #[must_use = "streams do nothing unless polled"]
        pub struct $name<S: Stream, F, Ts: Timestamp, K, KF> {
            #[pin]
            core: Core<S, F, KF, Ts>,
            state: $state<S::Item, K, Ts>,
            ready: VecDeque<Windowed<S::Item, K, Ts>>,
        }

        impl<S: Stream, F, Ts: Timestamp, K: Ord, KF> $name<S, F, Ts, K, KF> {
            /// Windows per key: items with different keys never share a window, and windows
            /// that close together come out in order of key. Call it before the first poll.
            ///
            #[doc = $keyed_example]
            pub fn keyed<K2, KF2>(self, key_fn: KF2) -> $name<S, F, Ts, K2, KF2>
            where
                K2: Ord $($key_bound)*,
                KF2: FnMut(&S::Item) -> K2,
            {
                let (size, every) = (self.fixed().size, self.fixed().every);
                $name {
                    core: self.core.with_key(key_fn),
                    state: $state::from_fixed(FixedState::new(size, every)),
                    ready: VecDeque::new(),
                }
            }

            /// Holds each window open until the watermark is past its end plus `d`, so items up
            /// to `d` behind still get in. Default: zero.
            ///
            /// ```
            /// use rivulet::prelude::*;
            /// # futures::executor::block_on(async {
            /// // 17 moves the watermark to 17, past the end of [0, 10), but not past 10 + 10.
            /// let out: Vec<_> = futures::stream::iter([1_u64, 17, 4])
            ///     .event_time(|x| *x, 0)
            #[doc = concat!("    .", $call)]
            ///     .allowed_lateness(10)
            ///     .collect()
            ///     .await;
            /// assert!(out.iter().all(|w| !w.is_late()));
            /// assert_eq!(out[0].items(), Some(&[1, 4][..]));
            /// # });
            /// ```
            pub fn allowed_lateness(mut self, d: Ts::Delta) -> Self {
                self.core.clock.lateness = d;
                self
            }

            /// Late items are only counted ([`late_count`](Self::late_count)) instead of coming
            /// out as [`Windowed::Late`]: the stream yields windows only.
            ///
            /// ```
            /// use rivulet::prelude::*;
            /// # futures::executor::block_on(async {
            /// let mut windows = futures::stream::iter([20_u64, 1])
            ///     .event_time(|x| *x, 0)
            #[doc = concat!("    .", $call)]
            ///     .count_late();
            /// assert!(!windows.next().await.unwrap().is_late());
            /// assert_eq!(windows.late_count(), 1);
            /// # });
            /// ```
            pub fn count_late(mut self) -> Self {
                self.core.emit_late = false;
                self
            }

            /// How many items have been late so far (come out as [`Late`](Windowed::Late), or
            /// only counted after [`count_late`](Self::count_late)).
            ///
            /// ```
            /// use rivulet::prelude::*;
            /// # futures::executor::block_on(async {
            /// let mut windows = futures::stream::iter([20_u64, 1])
            ///     .event_time(|x| *x, 0)
            #[doc = concat!("    .", $call, ";")]
            /// assert_eq!(windows.next().await, Some(rivulet::Windowed::Late(1)));
            /// assert_eq!(windows.late_count(), 1);
            /// # });
            /// ```
            pub fn late_count(&self) -> u64 {
                self.core.late
            }

            fn fixed(&self) -> &FixedState<S::Item, K, Ts> {
                self.state.fixed()
            }
        }

        impl<S, F, Ts, K, KF> Stream for $name<S, F, Ts, K, KF>
        where
            S: Stream,
            S::Item: $($item_bound)*,
            F: FnMut(&S::Item) -> Ts,
            KF: FnMut(&S::Item) -> K,
            Ts: Timestamp,
            K: Ord $($key_bound)*,
        {
            type Item = Windowed<S::Item, K, Ts>;

            fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
                let this = self.project();
                this.core.poll_windows(this.state, this.ready, cx)
            }
        }

        impl<S, F, Ts, K, KF> Debug for $name<S, F, Ts, K, KF>
        where
            S: Stream + Debug,
            Ts: Timestamp,
        {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("core", &self.core)
                    .field("size", &self.state.fixed().size)
                    .field("every", &self.state.fixed().every)
                    .field("open", &self.state.fixed().open.len())
                    .field("ready", &self.ready.len())
                    .finish_non_exhaustive()
            }
        }
    };
}

impl<T, K, Ts: Timestamp> FixedState<T, K, Ts> {
    fn fixed(&self) -> &Self {
        self
    }

    fn from_fixed(fixed: Self) -> Self {
        fixed
    }
}

impl<T, K, Ts: Timestamp> SlidingState<T, K, Ts> {
    fn fixed(&self) -> &FixedState<T, K, Ts> {
        &self.0
    }

    fn from_fixed(fixed: FixedState<T, K, Ts>) -> Self {
        SlidingState(fixed)
    }
}

fixed_windows!(
    /// Stream for [`EventTime::tumbling`]: fixed windows in event time, each emitted once the
    /// watermark has passed its end (plus the allowed lateness), and late items as
    /// [`Windowed::Late`].
    ///
    /// It takes every item as it comes, so a rendezvous `emit` upstream never waits on a window.
    /// What it holds is bounded by the open windows: those the watermark has not passed.
    TumblingWindows,
    FixedState,
    "tumbling(10)",
    [Sized],
    [],
    "```
use rivulet::prelude::*;
use rivulet::Windowed;
# futures::executor::block_on(async {
let clicks = futures::stream::iter([(\"a\", 1_u64), (\"b\", 2), (\"a\", 5)]);
let out: Vec<Windowed<(&str, u64), &str>> =
    clicks.event_time(|c| c.1, 0).tumbling(10).keyed(|c| c.0).collect().await;
assert_eq!(
    out,
    vec![
        Windowed::Window { start: 0, end: 10, key: \"a\", items: vec![(\"a\", 1), (\"a\", 5)] },
        Windowed::Window { start: 0, end: 10, key: \"b\", items: vec![(\"b\", 2)] },
    ]
);
# });
```"
);

fixed_windows!(
    /// Stream for [`EventTime::sliding`]: overlapping windows of one size in event time, each
    /// emitted once the watermark has passed its end (plus the allowed lateness); an item is in
    /// every window that holds it (so items are `Clone`), and is [`Windowed::Late`] only when
    /// all of those have closed.
    ///
    /// It takes every item as it comes, so a rendezvous `emit` upstream never waits on a window.
    SlidingWindows,
    SlidingState,
    "sliding(10, 10)",
    [Clone],
    [+ Clone],
    "```
use rivulet::prelude::*;
# futures::executor::block_on(async {
let out: Vec<_> = futures::stream::iter([(0_u8, 1_u64), (1, 2)])
    .event_time(|x| x.1, 0)
    .sliding(4, 2)
    .keyed(|x| x.0)
    .collect()
    .await;
let spans: Vec<(u64, u64, u8)> = out
    .iter()
    .filter_map(|w| match w {
        rivulet::Windowed::Window { start, end, key, .. } => Some((*start, *end, *key)),
        rivulet::Windowed::Late(_) => None,
    })
    .collect();
// 1 is in [0, 4) of key 0 (u64 time has no window before 0); 2 is in [0, 4) and [2, 6) of key 1.
assert_eq!(spans, vec![(0, 4, 0), (0, 4, 1), (2, 6, 1)]);
# });
```"
);

impl<S: Stream, F, Ts: Timestamp, KF> TumblingWindows<S, F, Ts, (), KF> {
    pub(super) fn new(core: Core<S, F, KF, Ts>, size: Ts::Delta) -> Self {
        TumblingWindows {
            core,
            state: FixedState::new(size, size),
            ready: VecDeque::new(),
        }
    }
}

impl<S: Stream, F, Ts: Timestamp, KF> SlidingWindows<S, F, Ts, (), KF> {
    pub(super) fn new(core: Core<S, F, KF, Ts>, size: Ts::Delta, every: Ts::Delta) -> Self {
        SlidingWindows {
            core,
            state: SlidingState(FixedState::new(size, every)),
            ready: VecDeque::new(),
        }
    }
}
