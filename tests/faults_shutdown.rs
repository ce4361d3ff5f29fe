//! Closing or dropping a client releases its values on every worker. (One test per binary: the
//! worker counters are the process's.)
#![cfg(feature = "remote")]

use std::time::{Duration, Instant};

use rivulet::prelude::*;
use rivulet::remote::obs::WorkerStats;

#[rivulet::remote]
fn square(x: i64) -> i64 {
    x * x
}

async fn values_held_becomes(target: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let held = WorkerStats::global().values_held();
        if held == target || Instant::now() > deadline {
            return held;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_or_dropping_the_client_releases_its_values() {
    let baseline = WorkerStats::global().values_held();

    // Handles alive, client closed: the workers drop everything of that connection.
    let client = rivulet::Client::local(2).await.unwrap();
    let handles: Vec<rivulet::RemoteFuture<i64>> = futures::stream::iter(0..50)
        .scatter(&client)
        .map(square)
        .into_futures()
        .collect()
        .await;
    for handle in &handles {
        handle.ready().await.unwrap();
    }
    // The results are held; their scattered inputs were released once each result's bytes
    // came back (the client no longer needs them to make a result again).
    assert!(
        WorkerStats::global().values_held() >= baseline + 50,
        "results are held"
    );
    client.close();
    assert_eq!(values_held_becomes(baseline).await, baseline);
    drop(handles);

    // Handles dropped one by one: each release reaches its worker.
    let client = rivulet::Client::local(2).await.unwrap();
    let results: Vec<_> = futures::stream::iter(0..50)
        .scatter(&client)
        .map(square)
        .buffered(8)
        .gather()
        .collect()
        .await;
    assert_eq!(results.len(), 50);
    assert_eq!(
        values_held_becomes(baseline).await,
        baseline,
        "gathered values are released"
    );
    drop(client);
    assert_eq!(values_held_becomes(baseline).await, baseline);
}
