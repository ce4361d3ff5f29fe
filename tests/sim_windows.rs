//! Remote windows under simulated faults (`rivulet::remote::sim`): a worker lost while a window
//! is being filled, or after its batch was built, loses nothing. Batches, sliding windows,
//! timed windows and flattened batches come out whole and in order, and once the stream ends
//! the values held on every worker return to zero. A failing case prints its seed.

#![cfg(feature = "remote")]

use std::time::Duration;

use futures::StreamExt as _;
use proptest::prelude::*;
use rivulet::prelude::*;
use rivulet::remote::sim::{Faults, Simulation};
use rivulet::{RemoteStream, TaskError};

#[rivulet::remote]
fn total(batch: Vec<i64>) -> i64 {
    batch.iter().sum()
}

#[rivulet::remote]
fn inc(x: i64) -> i64 {
    x + 1
}

/// Far beyond what any schedule needs: reaching it means a request waited forever.
const SIM_BOUND: Duration = Duration::from_secs(3600);

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime")
}

#[derive(Debug, Clone, Copy)]
enum Pipeline {
    /// `partition(4).map(total)`
    Partition,
    /// `sliding_window(3, true).map(total)`
    Sliding,
    /// `partition(3).flatten().map(inc)`
    Flatten,
    /// `timed_window(1 ms).flatten()`
    Timed,
}

fn expected(pipeline: Pipeline, n: i64) -> Vec<i64> {
    let items: Vec<i64> = (0..n).collect();
    match pipeline {
        Pipeline::Partition => items.chunks(4).map(|c| c.iter().sum()).collect(),
        Pipeline::Sliding => (0..items.len())
            .map(|i| items[i.saturating_sub(2)..=i].iter().sum())
            .collect(),
        Pipeline::Flatten => items.iter().map(|x| x + 1).collect(),
        Pipeline::Timed => items,
    }
}

/// Items `0..n`, one every `gap` of simulated time (so faults fall inside windows), through
/// `pipeline` on `workers` simulated workers; what `gather` gave, and the values held after.
fn run(
    pipeline: Pipeline,
    workers: usize,
    n: i64,
    gap: Duration,
    faults: Faults,
) -> (Vec<Result<i64, TaskError>>, Vec<usize>, Vec<bool>) {
    paused_runtime().block_on(async move {
        let sim = Simulation::start(workers, faults);
        let items: RemoteStream<i64> = futures::stream::iter(0..n)
            .then(move |x| async move {
                tokio::time::sleep(gap).await;
                x
            })
            .scatter(sim.client());
        let remote = match pipeline {
            Pipeline::Partition => items.partition(4).map(total),
            Pipeline::Sliding => items.sliding_window(3, true).map(total),
            Pipeline::Flatten => items.partition(3).flatten().map(inc),
            Pipeline::Timed => items.timed_window(Duration::from_millis(1)).flatten(),
        };
        let gathered = tokio::time::timeout(SIM_BOUND, remote.buffered(4).gather().collect())
            .await
            .expect("a request waited forever (the simulated run did not end)");
        // Let the releases of the last handles reach the workers, stalled ones included.
        tokio::time::sleep(Duration::from_secs(1)).await;
        (gathered, sim.values_held(), sim.alive())
    })
}

fn check(pipeline: Pipeline, workers: usize, faults: Faults) -> Vec<bool> {
    let seed = faults.seed;
    let n = 60;
    let (out, held, alive) = run(pipeline, workers, n, Duration::from_micros(300), faults);
    let got: Vec<i64> = out
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("seed {seed} {pipeline:?}: an item failed: {e}")))
        .collect();
    assert_eq!(
        got,
        expected(pipeline, n),
        "seed {seed} {pipeline:?}: items lost, repeated or out of order"
    );
    assert!(
        held.iter().all(|h| *h == 0),
        "seed {seed} {pipeline:?}: values still held after the stream ended: {held:?}"
    );
    alive
}

/// An item's worker is lost inside a window (items come every 300 µs, batches of 4, the
/// worker dies at 2.5 ms and at 7.7 ms, mid-batch): every batch comes out whole.
#[test]
fn an_items_worker_lost_inside_a_window() {
    for pipeline in [
        Pipeline::Partition,
        Pipeline::Sliding,
        Pipeline::Flatten,
        Pipeline::Timed,
    ] {
        let mut faults = Faults::none(3);
        faults.kills.push((0, Duration::from_micros(2_500)));
        faults.kills.push((1, Duration::from_micros(7_700)));
        let alive = check(pipeline, 3, faults);
        assert_eq!(
            alive,
            vec![false, false, true],
            "{pipeline:?}: the kills happened"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn partition_survives_random_faults(seed in any::<u64>(), workers in 2usize..4) {
        check(Pipeline::Partition, workers, Faults::from_seed(seed, workers));
    }

    #[test]
    fn sliding_window_survives_random_faults(seed in any::<u64>(), workers in 2usize..4) {
        check(Pipeline::Sliding, workers, Faults::from_seed(seed, workers));
    }

    #[test]
    fn flatten_survives_random_faults(seed in any::<u64>(), workers in 2usize..4) {
        check(Pipeline::Flatten, workers, Faults::from_seed(seed, workers));
    }

    #[test]
    fn timed_window_survives_random_faults(seed in any::<u64>(), workers in 2usize..4) {
        check(Pipeline::Timed, workers, Faults::from_seed(seed, workers));
    }
}
