//! Figures for `docs/scale.md`: placement cost per item, balance, and the cost of losing a
//! worker, at 10, 100 and 1,000 simulated workers (`rivulet::remote::sim`: the real client and
//! the real worker sessions, connected in memory, on tokio's paused clock).
//!
//! ```text
//! cargo run --release --example scale_sim
//! ```

use std::time::{Duration, Instant};

use rivulet::prelude::*;
use rivulet::remote::proto::{Load, choose_placement, choose_worker};
use rivulet::remote::sim::{Faults, SimRng, Simulation};

#[rivulet::remote]
fn work(x: u64) -> u64 {
    x.wrapping_mul(31) ^ 7
}

/// Nanoseconds per placement over `n` workers: looking at all of them, and two choices.
fn placement_ns(n: usize) -> (f64, f64) {
    let mut rng = SimRng::new(n as u64);
    let loads: Vec<Option<Load>> = (0..n)
        .map(|_| {
            Some(Load {
                outstanding: rng.below(8) as usize,
                task_time_ns: 50_000 + rng.below(100_000),
                scattered: rng.below(1000),
            })
        })
        .collect();
    let calls = 2_000_000 / n.max(1) as u64 + 100_000;
    let started = Instant::now();
    let mut sink = 0usize;
    for _ in 0..calls {
        let chosen = choose_worker(
            loads
                .iter()
                .enumerate()
                .filter_map(|(i, l)| l.map(|l| (i, l))),
        );
        sink = sink.wrapping_add(chosen.unwrap_or(0));
    }
    let scan = started.elapsed().as_nanos() as f64 / calls as f64;
    let started = Instant::now();
    for salt in 0..calls {
        let chosen = choose_placement(&loads, salt, |l| *l).map(|l| l.unwrap().scattered);
        sink = sink.wrapping_add(chosen.unwrap_or(0) as usize);
    }
    let two = started.elapsed().as_nanos() as f64 / calls as f64;
    std::hint::black_box(sink);
    (scan, two)
}

struct Run {
    wall_per_item_us: f64,
    simulated: Duration,
    finished: Vec<u64>,
    lost: u64,
}

/// Streams `items` through `workers` simulated workers (2 slots each) with `in_flight` items
/// in flight, under `faults`.
fn run(workers: usize, items: u64, in_flight: usize, faults: Faults) -> Run {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let sim = Simulation::start(workers, faults);
        let started = Instant::now();
        let simulated = tokio::time::Instant::now();
        let out: Vec<_> = futures::stream::iter(0..items)
            .scatter(sim.client())
            .map(work)
            .buffered(in_flight)
            .gather()
            .collect()
            .await;
        let simulated = simulated.elapsed();
        let wall = started.elapsed();
        assert_eq!(out.len() as u64, items);
        for (i, r) in out.iter().enumerate() {
            assert_eq!(
                *r.as_ref().expect("no item fails"),
                (i as u64).wrapping_mul(31) ^ 7
            );
        }
        let snapshot = sim.client().metrics().snapshot();
        Run {
            wall_per_item_us: wall.as_secs_f64() * 1e6 / items as f64,
            simulated,
            finished: snapshot.workers.iter().map(|w| w.finished).collect(),
            lost: snapshot.totals.lost,
        }
    })
}

fn balance(finished: &[u64]) -> String {
    let n = finished.len() as f64;
    let mean = finished.iter().sum::<u64>() as f64 / n;
    let var = finished
        .iter()
        .map(|&f| (f as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let (min, max) = (
        finished.iter().min().unwrap(),
        finished.iter().max().unwrap(),
    );
    format!(
        "tasks per worker: mean {mean:.1}, min {min}, max {max}, cv {:.2}",
        var.sqrt() / mean
    )
}

fn main() {
    println!("| workers | placement, all looked at | placement, two choices |");
    println!("|---|---|---|");
    for n in [10, 100, 1000] {
        let (scan, two) = placement_ns(n);
        println!("| {n} | {scan:.0} ns | {two:.0} ns |");
    }
    println!();
    for workers in [10usize, 100, 1000] {
        let items = (workers as u64 * 60).max(6000);
        let in_flight = workers * 4;
        let clean = run(workers, items, in_flight, Faults::none(1));
        let mut faults = Faults::none(1);
        faults.kills = vec![(0, clean.simulated / 2)];
        let killed = run(workers, items, in_flight, faults);
        println!(
            "{workers} workers, {items} items, {in_flight} in flight: {:.1} µs of CPU per item (client and simulated workers); \
             {:.0} items per simulated second; {}",
            clean.wall_per_item_us,
            items as f64 / clean.simulated.as_secs_f64(),
            balance(&clean.finished)
        );
        println!(
            "  one worker killed half-way: {} tasks lost and made again, the run {:.2} ms longer \
             ({:.2} ms against {:.2} ms simulated)",
            killed.lost,
            (killed.simulated.as_secs_f64() - clean.simulated.as_secs_f64()) * 1e3,
            killed.simulated.as_secs_f64() * 1e3,
            clean.simulated.as_secs_f64() * 1e3,
        );
    }
    // What the number in flight costs: the same 1,000 workers with a tenth of it.
    let items = 60_000;
    let few = run(1000, items, 400, Faults::none(1));
    println!(
        "1000 workers, {items} items, 400 in flight: {:.1} µs of CPU per item; {:.0} items per simulated second; {}",
        few.wall_per_item_us,
        items as f64 / few.simulated.as_secs_f64(),
        balance(&few.finished)
    );
}
