//! Worker-to-worker transfer under simulated faults (`rivulet::remote::sim`): a real client and
//! simulated workers that pull values from each other's grants, on tokio's paused clock.
//!
//! No result comes back with its reply here (`Limits::inline` is 0), so every value a task
//! needs on another worker is pulled from its holder, and a holder killed before or during a
//! pull makes the client make the value again from its lineage. Properties, over random
//! schedules: every item comes out once and in order; no byte of a move comes through the
//! client; once the stream ends, the workers hold no value and no grant. A failing case prints
//! its seed.
#![cfg(feature = "remote")]

use std::time::Duration;

use proptest::prelude::*;
use rivulet::prelude::*;
use rivulet::remote::Limits;
use rivulet::remote::sim::{Faults, Simulation};
use rivulet::{Client, TaskError};

#[rivulet::remote]
fn inc(x: i64) -> i64 {
    x + 1
}

#[rivulet::remote]
fn running_sum(total: i64, x: i64) -> (i64, i64) {
    (total + x, total + x)
}

#[rivulet::remote]
fn add(pair: (i64, i64)) -> i64 {
    pair.0 + pair.1
}

const SIM_BOUND: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy)]
enum Pipeline {
    Zip,
    Accumulate,
}

fn expected(pipeline: Pipeline, n: i64) -> Vec<i64> {
    match pipeline {
        // (x + 1) + (x + 100 + 1)
        Pipeline::Zip => (0..n).map(|x| 2 * x + 102).collect(),
        Pipeline::Accumulate => (0..n)
            .scan(0, |total, x| {
                *total += x + 1;
                Some(*total)
            })
            .collect(),
    }
}

struct Outcome {
    out: Vec<Result<i64, TaskError>>,
    held: Vec<usize>,
    grants: Vec<usize>,
    through_client: u64,
    between_workers: u64,
}

fn run(pipeline: Pipeline, workers: usize, n: i64, buffer: usize, faults: Faults) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async move {
        let limits = Limits {
            inline: 0,
            ..Limits::default()
        };
        let sim = Simulation::start_with(workers, faults, limits);
        let client: &Client = sim.client();
        let made = futures::stream::iter(0..n).scatter(client).map(inc);
        let remote = match pipeline {
            Pipeline::Zip => made
                .zip(futures::stream::iter(100..100 + n).scatter(client).map(inc))
                .map(add),
            Pipeline::Accumulate => made.buffered(buffer).accumulate(0, running_sum),
        };
        let out = tokio::time::timeout(SIM_BOUND, remote.buffered(buffer).gather().collect())
            .await
            .expect("a request waited forever (the simulated run did not end)");
        // Let the last releases (and any pull still waiting for a grant) reach the workers.
        tokio::time::sleep(Duration::from_secs(3)).await;
        Outcome {
            out,
            held: sim.values_held(),
            grants: sim.grants_open(),
            through_client: client.metrics().bytes_moved_through_client(),
            between_workers: client.metrics().bytes_moved_between_workers(),
        }
    })
}

fn check(pipeline: Pipeline, workers: usize, n: i64, buffer: usize, faults: Faults) -> u64 {
    let seed = faults.seed;
    let outcome = run(pipeline, workers, n, buffer, faults);
    let got: Vec<i64> = outcome
        .out
        .iter()
        .map(|r| {
            r.clone()
                .unwrap_or_else(|e| panic!("seed {seed}: an item failed: {e}"))
        })
        .collect();
    assert_eq!(
        got,
        expected(pipeline, n),
        "seed {seed}: items lost, repeated or out of order"
    );
    assert_eq!(
        outcome.through_client, 0,
        "seed {seed}: bytes of a move came through the client"
    );
    assert!(
        outcome.held.iter().all(|h| *h == 0),
        "seed {seed}: values still held: {:?}",
        outcome.held
    );
    assert!(
        outcome.grants.iter().all(|g| *g == 0),
        "seed {seed}: grants still open: {:?}",
        outcome.grants
    );
    outcome.between_workers
}

#[test]
fn without_faults_values_move_worker_to_worker() {
    for pipeline in [Pipeline::Zip, Pipeline::Accumulate] {
        let moved = check(pipeline, 3, 60, 4, Faults::none(1));
        assert!(moved > 0, "{pipeline:?}: nothing moved between workers");
    }
}

/// Found by the random cases: worker 0 stalls for 249 ms under a 39 ms request deadline; the
/// client gives up on it, and must not give up on worker 1 as well while worker 1's pull from
/// the stalled worker waits for its grant.
#[test]
fn a_stalled_holder_does_not_cost_the_puller_its_deadline() {
    check(
        Pipeline::Zip,
        2,
        40,
        1,
        Faults::from_seed(14_125_728_023_484_399_202, 2),
    );
}

#[test]
fn with_peer_transfer_off_values_come_through_the_client() {
    let mut faults = Faults::none(2);
    faults.peer_transfer = false;
    let outcome = run(Pipeline::Zip, 3, 60, 4, faults);
    assert!(outcome.out.iter().all(Result::is_ok));
    assert_eq!(outcome.between_workers, 0);
    assert!(outcome.through_client > 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn zip_survives_random_faults(seed in any::<u64>(), workers in 2usize..5, buffer in 1usize..8) {
        check(Pipeline::Zip, workers, 40, buffer, Faults::from_seed(seed, workers));
    }

    #[test]
    fn accumulate_survives_random_faults(seed in any::<u64>(), workers in 2usize..4, buffer in 1usize..6) {
        check(Pipeline::Accumulate, workers, 40, buffer, Faults::from_seed(seed, workers));
    }
}

/// Replays one case: `SIM_SEED=<seed> SIM_WORKERS=<n> SIM_BUFFER=<n> cargo test --test
/// sim_transfer replay` (what a failing case prints).
#[test]
fn replay() {
    let number = |name: &str| std::env::var(name).ok().and_then(|s| s.parse::<u64>().ok());
    let Some(seed) = number("SIM_SEED") else {
        return;
    };
    let workers = number("SIM_WORKERS").unwrap_or(3) as usize;
    let buffer = number("SIM_BUFFER").unwrap_or(4) as usize;
    for pipeline in [Pipeline::Zip, Pipeline::Accumulate] {
        check(
            pipeline,
            workers,
            40,
            buffer,
            Faults::from_seed(seed, workers),
        );
    }
}
