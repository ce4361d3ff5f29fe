//! A worker lost to a cut network is dialled again once the network is back: its items were
//! made again elsewhere meanwhile, and new work spreads to it again.
#![cfg(feature = "remote")]

#[path = "support/relay.rs"]
mod relay;
mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use relay::Relay;
use rivulet::prelude::*;
use rivulet::remote::transport::Identity;
use rivulet::remote::{ClientAuth, ConnectConfig, Trust};
use rivulet::worker::{Worker, WorkerAuth, WorkerConfig};
use rivulet::{Client, TaskError};
use support::within;

#[rivulet::remote]
fn inc(x: i64) -> i64 {
    x + 1
}

/// Polls `done` every 20 ms for up to 20 s.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_lost_to_a_cut_network_is_dialled_again() {
    let secret = b"redial".to_vec();
    let mut certs = Vec::new();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let identity = Identity::self_signed(vec!["localhost".into()]).expect("cert");
        certs.extend(identity.certs.iter().take(1).cloned());
        workers.push(
            Worker::spawn(WorkerConfig::new(identity, WorkerAuth::Secret(secret.clone())).slots(1))
                .expect("worker starts"),
        );
    }
    // The first worker is reached through a relay the test can cut.
    let relay = Relay::start(workers[0].local_addr()).await;
    let config = ConnectConfig::new(Trust::Pinned(certs), ClientAuth::Secret(secret));
    let client = Client::connect([relay.addr, workers[1].local_addr()], config)
        .await
        .expect("connects");
    assert_eq!(client.workers().len(), 2);

    relay.cut.store(true, Ordering::Relaxed);
    // Work goes on on the other worker while the first is out of reach.
    let during: Vec<Result<i64, TaskError>> = within(
        futures::stream::iter(0..200_i64)
            .scatter(&client)
            .map(inc)
            .buffered(8)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(during, (1..=200).map(Ok).collect::<Vec<_>>());
    assert!(
        eventually(|| client.workers().len() == 1).await,
        "the cut worker was never noticed as lost"
    );

    relay.cut.store(false, Ordering::Relaxed);
    assert!(
        eventually(|| client.workers().len() == 2).await,
        "the worker was not dialled again once the network was back"
    );
    let redialled = client
        .workers()
        .into_iter()
        .find(|w| w.addr() == relay.addr)
        .expect("the relayed worker is back");
    assert_eq!(
        redialled.index(),
        0,
        "the new link takes the old one's place"
    );
    // And it takes work again.
    let placed: Vec<_> = (0..8).map(|x| client.scatter(x as i64)).collect();
    assert!(placed.iter().any(|h| h.worker().addr() == relay.addr));
    for (x, handle) in placed.iter().enumerate() {
        assert_eq!(within(handle.fetch()).await, Ok(x as i64));
    }
}
