//! Event-time windows against hand-written baselines in the same run: a plain loop over the
//! same watermark logic, and the offline sort-then-group a batch job would do.
//!
//! Run with `cargo bench --bench event_time`; each group prints a median per iteration, and
//! the throughput lines give items per second.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rivulet::Windowed;
use rivulet::prelude::*;

/// (key, timestamp, value).
type Item = (u64, u64, u64);

const ITEMS: u64 = 200_000;
const KEYS: u64 = 16;
const SIZE: u64 = 1_000;
const DELAY: u64 = 100;

/// (key, timestamp, value): a rising clock, out of order by up to 63, with a few stragglers
/// far behind, so some items are late.
fn input() -> Vec<Item> {
    (0..ITEMS)
        .map(|i| {
            let jitter = i.wrapping_mul(2_654_435_761) % 64;
            let straggle = if i % 997 == 0 { 500 } else { 0 };
            (i % KEYS, (i + 1_000).saturating_sub(jitter + straggle), i)
        })
        .collect()
}

/// The same tumbling windows as a plain loop over the same watermark rule: a map of open
/// windows by (end, key), closed from the front as the watermark passes.
fn tumbling_by_hand(items: &[Item]) -> (usize, usize) {
    let mut open: BTreeMap<(u64, u64), Vec<Item>> = BTreeMap::new();
    let (mut windows, mut late, mut max_ts) = (0, 0, None::<u64>);
    for &item in items {
        let (key, ts, _) = item;
        let end = ts - ts % SIZE + SIZE;
        let wm = max_ts.map(|m| m.saturating_sub(DELAY));
        if wm.is_some_and(|w| w > end) {
            late += 1;
        } else {
            open.entry((end, key)).or_default().push(item);
        }
        max_ts = max_ts.max(Some(ts));
        let wm = max_ts.map_or(0, |m| m.saturating_sub(DELAY));
        while let Some(entry) = open.first_entry() {
            if wm <= entry.key().0 {
                break;
            }
            black_box(entry.remove());
            windows += 1;
        }
    }
    windows += open.len();
    (windows, late)
}

/// Offline: sort by (key, window), then group; no watermark, no late items.
fn sort_then_group(items: &[Item]) -> usize {
    let mut sorted = items.to_vec();
    sorted.sort_by_key(|&(key, ts, _)| (ts - ts % SIZE, key));
    let mut windows = 0;
    let mut last = None;
    for &(key, ts, _) in &sorted {
        let w = (ts - ts % SIZE, key);
        if last != Some(w) {
            windows += 1;
            last = Some(w);
        }
    }
    windows
}

fn count(out: Vec<Windowed<Item, u64>>) -> (usize, usize) {
    let late = out.iter().filter(|w| w.is_late()).count();
    (out.len() - late, late)
}

fn tumbling(c: &mut Criterion) {
    let items = input();
    let expected = tumbling_by_hand(&items);
    let mut group = c.benchmark_group("event_time_tumbling");
    group.throughput(Throughput::Elements(ITEMS));
    group.sample_size(20);
    group.bench_function("rivulet", |b| {
        b.iter(|| {
            let out = futures::executor::block_on(
                futures::stream::iter(items.iter().copied())
                    .event_time(|x| x.1, DELAY)
                    .tumbling(SIZE)
                    .keyed(|x| x.0)
                    .collect::<Vec<_>>(),
            );
            let counted = count(out);
            assert_eq!(counted, expected);
            counted
        })
    });
    group.bench_function("loop_by_hand", |b| {
        b.iter(|| tumbling_by_hand(black_box(&items)))
    });
    group.bench_function("sort_then_group", |b| {
        b.iter(|| sort_then_group(black_box(&items)))
    });
    group.finish();
}

fn sliding_and_session(c: &mut Criterion) {
    let items = input();
    let mut group = c.benchmark_group("event_time_other");
    group.throughput(Throughput::Elements(ITEMS));
    group.sample_size(10);
    group.bench_function("sliding_4_per_item", |b| {
        b.iter(|| {
            futures::executor::block_on(
                futures::stream::iter(items.iter().copied())
                    .event_time(|x| x.1, DELAY)
                    .sliding(SIZE, SIZE / 4)
                    .keyed(|x| x.0)
                    .count(),
            )
        })
    });
    group.bench_function("session", |b| {
        b.iter(|| {
            futures::executor::block_on(
                futures::stream::iter(items.iter().copied())
                    .event_time(|x| x.1, DELAY)
                    .session(50)
                    .keyed(|x| x.0)
                    .count(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, tumbling, sliding_and_session);
criterion_main!(benches);
