//! Placement at scale in the simulation: past `SAMPLE_ABOVE` workers the client places by two
//! random choices; the work still spreads over the whole fleet, and killed workers still lose
//! nothing.

#![cfg(feature = "remote")]

use std::time::Duration;

use rivulet::prelude::*;
use rivulet::remote::proto::SAMPLE_ABOVE;
use rivulet::remote::sim::{Faults, Simulation};

#[rivulet::remote]
fn mix(x: u64) -> u64 {
    x.wrapping_mul(0x9e37_79b9) >> 3
}

#[test]
fn two_hundred_workers_share_the_work_and_losses_cost_nothing() {
    const WORKERS: usize = 200;
    const ITEMS: u64 = 8_000;
    const { assert!(WORKERS > SAMPLE_ABOVE) };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut faults = Faults::none(11);
        faults.kills = vec![
            (3, Duration::from_millis(2)),
            (70, Duration::from_millis(5)),
            (150, Duration::from_millis(9)),
        ];
        let sim = Simulation::start(WORKERS, faults);
        let out: Vec<_> = futures::stream::iter(0..ITEMS)
            .scatter(sim.client())
            .map(mix)
            .buffered(800)
            .gather()
            .collect()
            .await;
        let got: Vec<u64> = out.into_iter().map(|r| r.unwrap()).collect();
        let expected: Vec<u64> = (0..ITEMS)
            .map(|x| x.wrapping_mul(0x9e37_79b9) >> 3)
            .collect();
        assert_eq!(got, expected, "every item once, in order");
        assert_eq!(sim.alive().iter().filter(|a| !**a).count(), 3);

        let snapshot = sim.client().metrics().snapshot();
        let finished: Vec<u64> = snapshot.workers.iter().map(|w| w.finished).collect();
        let mean = ITEMS as f64 / WORKERS as f64;
        let survivors: Vec<u64> = snapshot
            .workers
            .iter()
            .filter(|w| w.connected)
            .map(|w| w.finished)
            .collect();
        assert_eq!(survivors.len(), WORKERS - 3);
        let (min, max) = (
            survivors.iter().min().unwrap(),
            survivors.iter().max().unwrap(),
        );
        assert!(
            *min as f64 > mean * 0.5,
            "a worker was left idle: {finished:?}"
        );
        assert!(
            (*max as f64) < mean * 2.0,
            "a worker was overloaded: {finished:?}"
        );
    });
}
