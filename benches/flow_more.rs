//! map_async, try_map, debounce and throttle against hand-written baselines in the same run.
//!
//! Run with `cargo bench --bench flow_more`; each group prints a median per iteration, and the
//! throughput lines give items per second.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt as _;
use rivulet::prelude::*;

const ITEMS: u64 = 200_000;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds")
}

/// map_async(16) against futures' `map(f).buffered(16)`, on futures that yield once.
fn map_async(c: &mut Criterion) {
    let rt = current_thread();
    let mut group = c.benchmark_group("map_async");
    group.throughput(Throughput::Elements(ITEMS));
    group.sample_size(20);
    let work = |x: u64| async move {
        tokio::task::yield_now().await;
        x.wrapping_mul(3)
    };
    group.bench_function("rivulet_map_async_16", |b| {
        b.iter(|| rt.block_on(futures::stream::iter(0..ITEMS).map_async(16, work).count()))
    });
    group.bench_function("futures_buffered_16", |b| {
        b.iter(|| {
            rt.block_on(
                futures::stream::iter(0..ITEMS)
                    .map(work)
                    .buffered(16)
                    .count(),
            )
        })
    });
    group.finish();
}

/// try_map with its error branch taken, against `filter_map` keeping the errors in a `Vec`
/// by hand, and sending them to a futures mpsc channel read by a second future.
fn try_map(c: &mut Criterion) {
    let mut group = c.benchmark_group("try_map");
    group.throughput(Throughput::Elements(ITEMS));
    group.sample_size(20);
    let f = |x: u64| if x % 10 == 0 { Err(x) } else { Ok(x * 2) };
    group.bench_function("rivulet_try_map_with_errors", |b| {
        b.iter(|| {
            let mut mapped = futures::stream::iter(0..ITEMS).try_map(f);
            let errors = mapped.errors();
            futures::executor::block_on(async { futures::join!(mapped.count(), errors.count()) })
        })
    });
    group.bench_function("futures_filter_map_by_hand", |b| {
        b.iter(|| {
            let mut errors = Vec::new();
            let oks = futures::executor::block_on(
                futures::stream::iter(0..ITEMS)
                    .filter_map(|x| {
                        let r = match f(x) {
                            Ok(y) => Some(y),
                            Err(e) => {
                                errors.push(e);
                                None
                            }
                        };
                        futures::future::ready(r)
                    })
                    .count(),
            );
            (oks, black_box(errors).len())
        })
    });
    group.bench_function("futures_filter_map_errors_to_mpsc", |b| {
        b.iter(|| {
            let (tx, rx) = futures::channel::mpsc::unbounded();
            let oks = futures::stream::iter(0..ITEMS).filter_map(move |x| {
                futures::future::ready(match f(x) {
                    Ok(y) => Some(y),
                    Err(e) => {
                        // The receiver lives until both counts are done.
                        let _ = tx.unbounded_send(e);
                        None
                    }
                })
            });
            futures::executor::block_on(async { futures::join!(oks.count(), rx.count()) })
        })
    });
    group.finish();
}

/// debounce and throttle over an always-ready burst, against the same by hand: keep the last
/// item; keep the first and drop the rest by the clock.
fn time_ops(c: &mut Criterion) {
    let rt = current_thread();
    let mut group = c.benchmark_group("time_ops");
    group.throughput(Throughput::Elements(ITEMS));
    group.sample_size(20);
    let hour = Duration::from_secs(3600);
    group.bench_function("rivulet_debounce", |b| {
        b.iter(|| {
            rt.block_on(
                futures::stream::iter(0..ITEMS)
                    .debounce(hour)
                    .collect::<Vec<_>>(),
            )
        })
    });
    group.bench_function("debounce_by_hand", |b| {
        b.iter(|| {
            rt.block_on(futures::stream::iter(0..ITEMS).fold(None, |_, x| {
                let due = tokio::time::Instant::now() + hour;
                futures::future::ready(Some((due, x)))
            }))
        })
    });
    group.bench_function("rivulet_throttle", |b| {
        b.iter(|| rt.block_on(futures::stream::iter(0..ITEMS).throttle(hour).count()))
    });
    group.bench_function("throttle_by_hand", |b| {
        b.iter(|| {
            let mut open_at: Option<tokio::time::Instant> = None;
            rt.block_on(
                futures::stream::iter(0..ITEMS)
                    .filter(|_| {
                        let now = tokio::time::Instant::now();
                        let pass = open_at.is_none_or(|t| now >= t);
                        if pass {
                            open_at = Some(now + hour);
                        }
                        futures::future::ready(pass)
                    })
                    .count(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, map_async, try_map, time_ops);
criterion_main!(benches);
