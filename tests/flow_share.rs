//! `share()`: every branch gets every item, the slowest sets the pace, and a branch that panics
//! ends alone while the others keep running.

use std::time::Duration;

use rivulet::prelude::*;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_panicking_branch_ends_alone() {
    let source = Source::new();
    let shared = source.stream().share();
    let doomed = shared
        .clone()
        .map(|x: i32| {
            assert!(x != 2, "branch cannot take 2");
            x
        })
        .sink_to_list();
    let survivor = shared.sink_to_list();
    for x in 0..5 {
        tokio::time::timeout(Duration::from_secs(1), source.emit(x))
            .await
            .expect("a dead branch holds up no emit")
            .unwrap();
    }
    assert_eq!(survivor.snapshot(), vec![0, 1, 2, 3, 4]);
    let error = doomed.await.unwrap_err();
    assert!(
        error.to_string().contains("branch cannot take 2"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_slowest_branch_sets_the_pace() {
    let source = Source::new();
    let shared = source.stream().share();
    let slow = shared
        .clone()
        .then(|x: u32| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            x
        })
        .sink_to_list();
    let fast = shared.sink_to_list();
    let start = Instant::now();
    for x in 0..3 {
        source.emit(x).await.unwrap();
    }
    // Each emit waits for the slow branch to finish the item and come back.
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    assert_eq!(fast.snapshot(), vec![0, 1, 2]);
    assert_eq!(slow.snapshot(), vec![0, 1, 2]);
}
