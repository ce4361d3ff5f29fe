//! The distributed mode under simulated faults (`rivulet::remote::sim`): a real client and
//! simulated workers in memory, on tokio's paused clock, faults drawn from a seed.
//!
//! Properties, over random schedules: every item comes out of `gather` exactly once and in
//! order (or as a typed `Err` when no worker is left); no request waits forever (every run ends
//! within a bound of simulated time); once the stream ends and its handles drop, the values held
//! on every worker return to zero. A failing case prints its seed; `SIM_SEED=<seed> cargo test
//! --test sim_faults replay` replays one.
#![cfg(feature = "remote")]

use std::time::Duration;

use proptest::prelude::*;
use rivulet::prelude::*;
use rivulet::remote::sim::{Faults, Simulation};
use rivulet::{TaskError, TaskErrorKind};

#[rivulet::remote]
fn inc(x: i64) -> i64 {
    x + 1
}

#[rivulet::remote]
fn running_sum(total: i64, x: i64) -> (i64, i64) {
    (total + x, total + x)
}

#[rivulet::remote]
fn is_even(x: i64) -> bool {
    x % 2 == 0
}

/// The longest a simulated run may take: far beyond what any schedule needs, so reaching it
/// means a request waited forever.
const SIM_BOUND: Duration = Duration::from_secs(3600);

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime")
}

/// Which pipeline a case runs.
#[derive(Debug, Clone, Copy)]
enum Pipeline {
    Map,
    Accumulate,
    RetainMap,
}

/// What the pipeline yields for items `0..n`.
fn expected(pipeline: Pipeline, n: i64) -> Vec<i64> {
    match pipeline {
        Pipeline::Map => (0..n).map(|x| x + 1).collect(),
        Pipeline::Accumulate => (0..n)
            .scan(0, |total, x| {
                *total += x;
                Some(*total)
            })
            .collect(),
        Pipeline::RetainMap => (0..n).filter(|x| x % 2 == 0).map(|x| x + 1).collect(),
    }
}

/// Runs `n` items through `pipeline` on `workers` simulated workers under `faults`; returns
/// what `gather` gave and the values held on the workers after the stream's handles dropped.
fn run(
    pipeline: Pipeline,
    workers: usize,
    n: i64,
    buffer: usize,
    faults: Faults,
) -> (Vec<Result<i64, TaskError>>, Vec<usize>) {
    paused_runtime().block_on(async move {
        let sim = Simulation::start(workers, faults);
        let items = futures::stream::iter(0..n).scatter(sim.client());
        let remote = match pipeline {
            Pipeline::Map => items.map(inc),
            Pipeline::Accumulate => items.accumulate(0, running_sum),
            Pipeline::RetainMap => items.retain(is_even).map(inc),
        };
        let gathered = tokio::time::timeout(SIM_BOUND, remote.buffered(buffer).gather().collect())
            .await
            .expect("a request waited forever (the simulated run did not end)");
        // Let the releases of the last handles reach the workers, stalled ones included (the
        // longest stall a schedule draws is half a second).
        tokio::time::sleep(Duration::from_secs(1)).await;
        (gathered, sim.values_held())
    })
}

fn check(pipeline: Pipeline, workers: usize, n: i64, buffer: usize, faults: Faults) {
    let seed = faults.seed;
    let (out, held) = run(pipeline, workers, n, buffer, faults);
    let want = expected(pipeline, n);
    let got: Vec<i64> = out
        .iter()
        .map(|r| {
            r.clone()
                .unwrap_or_else(|e| panic!("seed {seed}: an item failed: {e}"))
        })
        .collect();
    assert_eq!(
        got, want,
        "seed {seed}: items lost, repeated or out of order"
    );
    assert!(
        held.iter().all(|h| *h == 0),
        "seed {seed}: values still held after the stream ended: {held:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn map_survives_random_faults(seed in any::<u64>(), workers in 2usize..5, buffer in 1usize..16) {
        check(Pipeline::Map, workers, 60, buffer, Faults::from_seed(seed, workers));
    }

    #[test]
    fn accumulate_survives_random_faults(seed in any::<u64>(), workers in 2usize..4, buffer in 1usize..8) {
        check(Pipeline::Accumulate, workers, 40, buffer, Faults::from_seed(seed, workers));
    }

    #[test]
    fn retain_then_map_survives_random_faults(seed in any::<u64>(), workers in 2usize..4, buffer in 1usize..8) {
        check(Pipeline::RetainMap, workers, 40, buffer, Faults::from_seed(seed, workers));
    }

    #[test]
    fn with_every_worker_killed_items_fail_typed(seed in any::<u64>(), workers in 1usize..4) {
        let (out, _) = run(Pipeline::Map, workers, 60, 4, Faults::all_killed(seed, workers));
        prop_assert_eq!(out.len(), 60, "seed {}: an item went missing", seed);
        let want = expected(Pipeline::Map, 60);
        for (i, item) in out.iter().enumerate() {
            match item {
                Ok(v) => prop_assert_eq!(*v, want[i], "seed {}", seed),
                Err(e) => prop_assert!(
                    matches!(e.kind(), TaskErrorKind::NoWorkers | TaskErrorKind::WorkerLost),
                    "seed {}: {}", seed, e
                ),
            }
        }
    }
}

/// A long accumulation keeps O(buffered) values on the workers, not one per item.
#[test]
fn long_accumulate_holds_values_bounded_by_the_buffer() {
    paused_runtime().block_on(async {
        let sim = Simulation::start(2, Faults::none(1));
        let buffer = 16;
        let mut peak = 0;
        let gathered = futures::stream::iter(0..5_000_i64)
            .scatter(sim.client())
            .accumulate(0, running_sum)
            .buffered(buffer)
            .gather();
        futures::pin_mut!(gathered);
        let mut count = 0;
        while let Some(item) = gathered.next().await {
            item.expect("no fault was scheduled");
            count += 1;
            peak = peak.max(sim.values_held().iter().sum::<usize>());
        }
        assert_eq!(count, 5_000);
        assert!(
            peak <= 4 * buffer + 8,
            "values held peaked at {peak} for buffered({buffer})"
        );
    });
}

/// Replays one seed given in `SIM_SEED` (all pipelines), for a failure found above.
#[test]
fn replay() {
    let Some(seed) = std::env::var("SIM_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return;
    };
    for pipeline in [Pipeline::Map, Pipeline::Accumulate, Pipeline::RetainMap] {
        check(pipeline, 3, 60, 4, Faults::from_seed(seed, 3));
    }
}

/// The schedule's faults do happen: a worker killed early is gone at the end, one that sends
/// a reply twice is dropped as broken, and the output is still every item once, in order.
#[test]
fn scheduled_faults_happen_and_nothing_is_lost() {
    paused_runtime().block_on(async {
        let mut faults = Faults::none(5);
        faults.kills.push((0, Duration::from_micros(500)));
        faults.duplicates.push((1, Duration::from_micros(800)));
        faults
            .stalls
            .push((2, Duration::from_micros(300), Duration::from_millis(3)));
        faults.slow.push((3, 10));
        let sim = Simulation::start(4, faults);
        let out: Vec<_> = futures::stream::iter(0..300_i64)
            .scatter(sim.client())
            .map(inc)
            .buffered(8)
            .gather()
            .collect()
            .await;
        let out: Vec<i64> = out.into_iter().map(|r| r.expect("recovered")).collect();
        assert_eq!(out, (1..=300).collect::<Vec<_>>());
        assert_eq!(sim.alive(), vec![false, false, true, true]);
        assert_eq!(sim.client().workers().len(), 2);
    });
}

#[rivulet::remote]
fn reversed(bytes: Vec<u8>) -> Vec<u8> {
    bytes.into_iter().rev().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Values in many small pieces (scatter, and fetch of results) under random faults.
    #[test]
    fn values_in_pieces_survive_random_faults(
        seed in any::<u64>(),
        sizes in prop::collection::vec(0usize..300, 1..24),
    ) {
        let limits = rivulet::remote::proto::Limits { piece: 16, inline: 8, ..Default::default() };
        let items: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, n)| (0..*n).map(|j| (i + j) as u8).collect()).collect();
        let want: Vec<Vec<u8>> = items.iter().map(|v| v.iter().rev().copied().collect()).collect();
        let out = paused_runtime().block_on(async move {
            let sim = Simulation::start_with(3, Faults::from_seed(seed, 3), limits);
            let out: Vec<_> = futures::stream::iter(items).scatter(sim.client()).map(reversed).buffered(4).gather().collect().await;
            out
        });
        let got: Vec<Vec<u8>> = out.into_iter().map(|r| r.unwrap_or_else(|e| panic!("seed {seed}: {e}"))).collect();
        prop_assert_eq!(got, want, "seed {}", seed);
    }
}

/// A worker that stalls past the client's request deadline is given up on, and its items are
/// made again on the others.
#[test]
fn a_stalled_worker_is_given_up_at_the_deadline() {
    paused_runtime().block_on(async {
        let mut faults = Faults::none(11);
        faults
            .stalls
            .push((0, Duration::from_micros(200), Duration::from_secs(3600)));
        faults.request_timeout = Some(Duration::from_millis(100));
        let sim = Simulation::start(3, faults);
        let out: Vec<_> = tokio::time::timeout(
            SIM_BOUND,
            futures::stream::iter(0..100_i64)
                .scatter(sim.client())
                .map(inc)
                .buffered(8)
                .gather()
                .collect::<Vec<_>>(),
        )
        .await
        .expect("a request waited forever");
        let out: Vec<i64> = out
            .into_iter()
            .map(|r| r.expect("made again elsewhere"))
            .collect();
        assert_eq!(out, (1..=100).collect::<Vec<_>>());
        assert_eq!(sim.alive(), vec![false, true, true]);
    });
}
