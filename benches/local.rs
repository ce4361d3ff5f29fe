//! Local operator overhead, emit cost and fan-out, all in one process so that the ratios hold.
//!
//! Run with `cargo bench --bench local`; each group prints a median per iteration, and the
//! throughput lines give items per second.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt as _;
use rivulet::prelude::*;

const CHAIN_ITEMS: u64 = 1_000_000;
const EMIT_ITEMS: u64 = 100_000;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds")
}

/// (a) map → retain → accumulate → counting sink, against the same chain in plain futures.
fn operator_overhead(c: &mut Criterion) {
    let rt = current_thread();
    let mut group = c.benchmark_group("chain");
    group.throughput(Throughput::Elements(CHAIN_ITEMS));
    group.sample_size(20);
    group.bench_function("rivulet", |b| {
        b.iter(|| {
            rt.block_on(async {
                let count = Arc::new(AtomicU64::new(0));
                let seen = Arc::clone(&count);
                futures::stream::iter(0..CHAIN_ITEMS)
                    .map(|x| x.wrapping_mul(3))
                    .retain(|x| x % 2 == 0)
                    .accumulate(0u64, |total, x| {
                        *total = total.wrapping_add(x);
                        *total
                    })
                    .sink(move |total| {
                        black_box(total);
                        seen.fetch_add(1, Ordering::Relaxed);
                    })
                    .await
                    .expect("the chain does not panic");
                count.load(Ordering::Relaxed)
            })
        })
    });
    group.bench_function("futures_by_hand", |b| {
        b.iter(|| {
            rt.block_on(async {
                let count = Arc::new(AtomicU64::new(0));
                let seen = Arc::clone(&count);
                let chain = futures::stream::iter(0..CHAIN_ITEMS)
                    .map(|x| x.wrapping_mul(3))
                    .filter(|x| futures::future::ready(x % 2 == 0))
                    .scan(0u64, |total, x| {
                        *total = total.wrapping_add(x);
                        futures::future::ready(Some(*total))
                    });
                tokio::spawn(chain.for_each(move |total| {
                    black_box(total);
                    seen.fetch_add(1, Ordering::Relaxed);
                    futures::future::ready(())
                }))
                .await
                .expect("the chain does not panic");
                count.load(Ordering::Relaxed)
            })
        })
    });
    group.finish();
}

/// (b) one `emit().await` per item through Source → map → sink; and a buffered source against a
/// tokio mpsc channel of the same capacity.
fn emit_cost(c: &mut Criterion) {
    let rt = current_thread();
    let mut group = c.benchmark_group("emit");
    group.throughput(Throughput::Elements(EMIT_ITEMS));
    group.sample_size(20);
    group.bench_function("rendezvous_map_sink", |b| {
        b.iter(|| {
            rt.block_on(async {
                let source = Source::new();
                let done = source.stream().map(|x: u64| x + 1).sink(|x| {
                    black_box(x);
                });
                for x in 0..EMIT_ITEMS {
                    source.emit(x).await.expect("open");
                }
                source.close();
                done.await.expect("no panic");
            })
        })
    });
    group.bench_function("source_capacity_1024", |b| {
        b.iter(|| {
            rt.block_on(async {
                let source = Source::with_capacity(1024);
                let done = source.stream().sink(|x: u64| {
                    black_box(x);
                });
                for x in 0..EMIT_ITEMS {
                    source.emit(x).await.expect("open");
                }
                source.close();
                done.await.expect("no panic");
            })
        })
    });
    group.bench_function("tokio_mpsc_1024", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(1024);
                let done = tokio::spawn(async move {
                    while let Some(x) = rx.recv().await {
                        black_box(x);
                    }
                });
                for x in 0..EMIT_ITEMS {
                    tx.send(x).await.expect("open");
                }
                drop(tx);
                done.await.expect("no panic");
            })
        })
    });
    group.finish();
}

/// (c) `share()` to four branches, and `combine_latest` of two sources.
fn fan_out_and_join(c: &mut Criterion) {
    let rt = current_thread();
    let mut group = c.benchmark_group("fan");
    group.throughput(Throughput::Elements(EMIT_ITEMS));
    group.sample_size(20);
    group.bench_function("share_4_branches", |b| {
        b.iter(|| {
            rt.block_on(async {
                let shared = futures::stream::iter(0..EMIT_ITEMS).share();
                let branches: Vec<_> = (0..4)
                    .map(|_| {
                        shared.clone().sink(|x| {
                            black_box(x);
                        })
                    })
                    .collect();
                drop(shared);
                for branch in branches {
                    branch.await.expect("no panic");
                }
            })
        })
    });
    group.bench_function("combine_latest", |b| {
        b.iter(|| {
            rt.block_on(async {
                let left = futures::stream::iter(0..EMIT_ITEMS / 2);
                let right = futures::stream::iter(0..EMIT_ITEMS / 2);
                left.combine_latest(right)
                    .sink(|pair| {
                        black_box(pair);
                    })
                    .await
                    .expect("no panic");
            })
        })
    });
    group.finish();
}

criterion_group!(benches, operator_overhead, emit_cost, fan_out_and_join);
criterion_main!(benches);
