//! session_window, timed_window_by and sample against hand-written loops in the same run.
//!
//! Each operator runs twice: `paced`, on a source that sends bursts of `BURST` items once a
//! tick of paused tokio time (so windows and sessions really close, on the operator's timer),
//! and `burst`, on an always-ready source with an hour-long interval on a real-time runtime
//! (one window; what is left is the per-item cost). The loops `by_hand` read the clock per
//! item and close a window at the first item past its end rather than on a timer, which they
//! can do because every interval here has items; the `select` loops (for the two operators on
//! a fixed interval) race a tokio interval against the next item instead, reading no clock per
//! item, as the operators do. Each operator's output is checked against the loops'.
//!
//! Run with `cargo bench --bench time_more`; each group prints a median per iteration, and the
//! throughput lines give items per second.

use std::collections::HashMap;
use std::pin::pin;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::{Stream, StreamExt as _};
use rivulet::prelude::*;
use tokio::time::Instant;

const ITEMS: u64 = 200_000;
const KEYS: u64 = 16;
/// Items sent at once, every tick.
const BURST: u64 = 64;
/// tokio's timer fires on whole milliseconds, so the ticks come on odd ones (the first after
/// `FIRST`, then every `TICK`) and windows close on even ones: no item comes at the very
/// instant a window closes.
const FIRST: Duration = Duration::from_millis(1);
const TICK: Duration = Duration::from_millis(2);
const WINDOW: Duration = Duration::from_millis(10);
/// More than a tick and less than `PAUSE`: a session ends at each pause.
const GAP: Duration = Duration::from_millis(3);
const PAUSE: Duration = Duration::from_millis(6);
/// Ticks per session in the session benchmark.
const SESSION_TICKS: u64 = 16;
const HOUR: Duration = Duration::from_secs(3600);

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds")
}

fn paused_current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a paused current-thread runtime builds")
}

/// `0..ITEMS` in bursts of `BURST`, each after a sleep of `pause(tick)`.
fn paced(pause: fn(u64) -> Duration) -> impl Stream<Item = u64> {
    futures::stream::iter(0..ITEMS / BURST)
        .then(move |t| {
            let d = pause(t);
            async move {
                tokio::time::sleep(d).await;
                t
            }
        })
        .flat_map(|t| futures::stream::iter(t * BURST..(t + 1) * BURST))
}

fn every_tick(t: u64) -> Duration {
    if t == 0 { FIRST } else { TICK }
}

fn sessions_of_ticks(t: u64) -> Duration {
    if t == 0 {
        FIRST
    } else if t % SESSION_TICKS == 0 {
        PAUSE
    } else {
        TICK
    }
}

/// The index of the interval of `dur` that `now` falls in, counted from `start`.
fn interval_of(start: Instant, dur: Duration) -> u128 {
    (Instant::now() - start).as_nanos() / dur.as_nanos()
}

/// (windows, groups, items, checksum): enough to tell two outputs apart.
type Tally = (usize, usize, usize, u64);

fn tally_groups(mut tally: Tally, window: &[(u64, Vec<u64>)]) -> Tally {
    tally.0 += 1;
    tally.1 += window.len();
    for (key, items) in window {
        tally.2 += items.len();
        tally.3 = tally.3.wrapping_mul(31).wrapping_add(key ^ items[0]);
    }
    tally
}

fn tally_session(mut tally: Tally, session: &[u64]) -> Tally {
    tally.0 += 1;
    tally.2 += session.len();
    tally.3 = tally.3.wrapping_mul(31).wrapping_add(session[0]);
    tally
}

fn tally_sample(mut tally: Tally, x: u64) -> Tally {
    tally.0 += 1;
    tally.3 = tally.3.wrapping_mul(31).wrapping_add(x);
    tally
}

async fn timed_window_by_rivulet(items: impl Stream<Item = u64>, dur: Duration) -> Tally {
    items
        .timed_window_by(dur, |x: &u64| x % KEYS)
        .fold(Tally::default(), |t, w| {
            futures::future::ready(tally_groups(t, &w))
        })
        .await
}

async fn session_window_rivulet(items: impl Stream<Item = u64>, gap: Duration) -> Tally {
    items
        .session_window(gap)
        .fold(Tally::default(), |t, s| {
            futures::future::ready(tally_session(t, &s))
        })
        .await
}

async fn sample_rivulet(items: impl Stream<Item = u64>, dur: Duration) -> Tally {
    items
        .sample(dur)
        .fold(Tally::default(), |t, x| {
            futures::future::ready(tally_sample(t, x))
        })
        .await
}

/// Ticks every `dur` from now, skipping missed ones, as the operators' intervals do.
fn interval_for(dur: Duration) -> tokio::time::Interval {
    let mut ticks = tokio::time::interval_at(Instant::now() + dur, dur);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    ticks
}

fn push_grouped(index: &mut HashMap<u64, usize>, groups: &mut Vec<(u64, Vec<u64>)>, x: u64) {
    let key = x % KEYS;
    match index.get(&key) {
        Some(&i) => groups[i].1.push(x),
        None => {
            index.insert(key, groups.len());
            groups.push((key, vec![x]));
        }
    }
}

/// Groups by key per interval: a map from key to its place, cleared at each new interval.
async fn timed_window_by_hand(items: impl Stream<Item = u64>, dur: Duration) -> Tally {
    let start = Instant::now();
    let mut items = pin!(items);
    let mut tally = Tally::default();
    let mut current = 0;
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut groups: Vec<(u64, Vec<u64>)> = Vec::new();
    while let Some(x) = items.next().await {
        let w = interval_of(start, dur);
        if w != current {
            tally = tally_groups(tally, &std::mem::take(&mut groups));
            index.clear();
            current = w;
        }
        push_grouped(&mut index, &mut groups, x);
    }
    tally_groups(tally, &groups)
}

/// The same groups, closed on a tokio interval raced against the next item in a `select!`,
/// as the operator closes them on its timer: no clock read per item.
async fn timed_window_by_select(items: impl Stream<Item = u64>, dur: Duration) -> Tally {
    let mut items = pin!(items);
    let mut ticks = interval_for(dur);
    let mut tally = Tally::default();
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut groups: Vec<(u64, Vec<u64>)> = Vec::new();
    loop {
        tokio::select! {
            biased;
            x = items.next() => match x {
                Some(x) => push_grouped(&mut index, &mut groups, x),
                None => break,
            },
            _ = ticks.tick() => {
                tally = tally_groups(tally, &std::mem::take(&mut groups));
                index.clear();
            }
        }
    }
    tally_groups(tally, &groups)
}

/// Closes a session when the time since the previous item reaches `gap`.
async fn session_by_hand(items: impl Stream<Item = u64>, gap: Duration) -> Tally {
    let mut items = pin!(items);
    let mut tally = Tally::default();
    let mut session = Vec::new();
    let mut last: Option<Instant> = None;
    while let Some(x) = items.next().await {
        let now = Instant::now();
        if last.is_some_and(|t| now - t >= gap) {
            tally = tally_session(tally, &std::mem::take(&mut session));
        }
        session.push(x);
        last = Some(now);
    }
    if !session.is_empty() {
        tally = tally_session(tally, &session);
    }
    tally
}

/// Keeps the newest item, and lets it out at the first item of a later interval.
async fn sample_by_hand(items: impl Stream<Item = u64>, dur: Duration) -> Tally {
    let start = Instant::now();
    let mut items = pin!(items);
    let mut tally = Tally::default();
    let mut current = 0;
    let mut newest = None;
    while let Some(x) = items.next().await {
        let w = interval_of(start, dur);
        if w != current {
            if let Some(y) = newest.take() {
                tally = tally_sample(tally, y);
            }
            current = w;
        }
        newest = Some(x);
    }
    if let Some(y) = newest {
        tally = tally_sample(tally, y);
    }
    tally
}

/// The newest item, let out on a tokio interval raced against the next item in a `select!`.
async fn sample_select(items: impl Stream<Item = u64>, dur: Duration) -> Tally {
    let mut items = pin!(items);
    let mut ticks = interval_for(dur);
    let mut tally = Tally::default();
    let mut newest = None;
    loop {
        tokio::select! {
            biased;
            x = items.next() => match x {
                Some(x) => newest = Some(x),
                None => break,
            },
            _ = ticks.tick() => {
                if let Some(y) = newest.take() {
                    tally = tally_sample(tally, y);
                }
            }
        }
    }
    if let Some(y) = newest {
        tally = tally_sample(tally, y);
    }
    tally
}

fn timed_window_by(c: &mut Criterion) {
    let paused = paused_current_thread();
    let rt = current_thread();
    let expected = paused.block_on(timed_window_by_hand(paced(every_tick), WINDOW));
    assert_eq!(
        paused.block_on(timed_window_by_rivulet(paced(every_tick), WINDOW)),
        expected
    );
    assert!(expected.0 > 100, "the paced source spans many windows");
    assert_eq!(
        paused.block_on(timed_window_by_select(paced(every_tick), WINDOW)),
        expected
    );
    let mut group = c.benchmark_group("timed_window_by");
    group.throughput(Throughput::Elements(ITEMS));
    group.sample_size(20);
    group.bench_function("rivulet_paced", |b| {
        b.iter(|| paused.block_on(timed_window_by_rivulet(paced(every_tick), WINDOW)))
    });
    group.bench_function("by_hand_paced", |b| {
        b.iter(|| paused.block_on(timed_window_by_hand(paced(every_tick), WINDOW)))
    });
    group.bench_function("select_paced", |b| {
        b.iter(|| paused.block_on(timed_window_by_select(paced(every_tick), WINDOW)))
    });
    group.bench_function("rivulet_burst", |b| {
        b.iter(|| {
            rt.block_on(timed_window_by_rivulet(
                futures::stream::iter(0..ITEMS),
                HOUR,
            ))
        })
    });
    group.bench_function("by_hand_burst", |b| {
        b.iter(|| rt.block_on(timed_window_by_hand(futures::stream::iter(0..ITEMS), HOUR)))
    });
    group.bench_function("select_burst", |b| {
        b.iter(|| {
            rt.block_on(timed_window_by_select(
                futures::stream::iter(0..ITEMS),
                HOUR,
            ))
        })
    });
    group.finish();
}

fn session_window(c: &mut Criterion) {
    let paused = paused_current_thread();
    let rt = current_thread();
    let expected = paused.block_on(session_by_hand(paced(sessions_of_ticks), GAP));
    assert_eq!(
        paused.block_on(session_window_rivulet(paced(sessions_of_ticks), GAP)),
        expected
    );
    assert!(expected.0 > 100, "the paced source has many sessions");
    let mut group = c.benchmark_group("session_window");
    group.throughput(Throughput::Elements(ITEMS));
    group.sample_size(20);
    group.bench_function("rivulet_paced", |b| {
        b.iter(|| paused.block_on(session_window_rivulet(paced(sessions_of_ticks), GAP)))
    });
    group.bench_function("by_hand_paced", |b| {
        b.iter(|| paused.block_on(session_by_hand(paced(sessions_of_ticks), GAP)))
    });
    group.bench_function("rivulet_burst", |b| {
        b.iter(|| {
            rt.block_on(session_window_rivulet(
                futures::stream::iter(0..ITEMS),
                HOUR,
            ))
        })
    });
    group.bench_function("by_hand_burst", |b| {
        b.iter(|| rt.block_on(session_by_hand(futures::stream::iter(0..ITEMS), HOUR)))
    });
    group.finish();
}

fn sample(c: &mut Criterion) {
    let paused = paused_current_thread();
    let rt = current_thread();
    let expected = paused.block_on(sample_by_hand(paced(every_tick), WINDOW));
    assert_eq!(
        paused.block_on(sample_rivulet(paced(every_tick), WINDOW)),
        expected
    );
    assert!(expected.0 > 100, "the paced source spans many intervals");
    assert_eq!(
        paused.block_on(sample_select(paced(every_tick), WINDOW)),
        expected
    );
    let mut group = c.benchmark_group("sample");
    group.throughput(Throughput::Elements(ITEMS));
    group.sample_size(20);
    group.bench_function("rivulet_paced", |b| {
        b.iter(|| paused.block_on(sample_rivulet(paced(every_tick), WINDOW)))
    });
    group.bench_function("by_hand_paced", |b| {
        b.iter(|| paused.block_on(sample_by_hand(paced(every_tick), WINDOW)))
    });
    group.bench_function("select_paced", |b| {
        b.iter(|| paused.block_on(sample_select(paced(every_tick), WINDOW)))
    });
    group.bench_function("rivulet_burst", |b| {
        b.iter(|| rt.block_on(sample_rivulet(futures::stream::iter(0..ITEMS), HOUR)))
    });
    group.bench_function("by_hand_burst", |b| {
        b.iter(|| rt.block_on(sample_by_hand(futures::stream::iter(0..ITEMS), HOUR)))
    });
    group.bench_function("select_burst", |b| {
        b.iter(|| rt.block_on(sample_select(futures::stream::iter(0..ITEMS), HOUR)))
    });
    group.finish();
}

criterion_group!(benches, timed_window_by, session_window, sample);
criterion_main!(benches);
