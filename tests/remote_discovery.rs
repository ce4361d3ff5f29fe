//! `Client::discover` and `discover_with` on loopback workers: members join and are drained and
//! closed as the name's addresses change, with every item coming out once, in order; the
//! dashboard's snapshot and `/metrics` show the changes.

#![cfg(feature = "remote")]

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rivulet::prelude::*;
use rivulet::remote::{ClientAuth, ClientError, ConnectConfig, Identity};
use rivulet::worker::{Worker, WorkerAuth, WorkerConfig};
use support::within;

const SECRET: &[u8] = b"discovery test secret";

#[rivulet::remote]
fn slow_inc(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(1));
    x + 1
}

fn workers(n: usize) -> (Vec<Worker>, ConnectConfig) {
    let identity = Identity::self_signed(vec!["localhost".to_owned()]).unwrap();
    workers_as(&identity, n)
}

/// `n` workers with `identity`, and a configuration that trusts it.
fn workers_as(identity: &Identity, n: usize) -> (Vec<Worker>, ConnectConfig) {
    let trust = identity.trust_pinned();
    let workers = (0..n)
        .map(|_| {
            Worker::spawn(
                WorkerConfig::new(identity.clone(), WorkerAuth::Secret(SECRET.to_vec())).slots(2),
            )
            .unwrap()
        })
        .collect();
    let mut config = ConnectConfig::new(trust, ClientAuth::Secret(SECRET.to_vec()));
    config.discovery_interval = Duration::from_millis(100);
    (workers, config)
}

/// Polls `check` every 20 ms for at most 20 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn status_of(client: &rivulet::Client, addr: SocketAddr) -> Vec<&'static str> {
    client
        .metrics()
        .snapshot()
        .workers
        .iter()
        .filter(|w| w.addr == addr.to_string())
        .map(|w| w.status)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_follow_the_name_and_no_item_is_lost() {
    let (workers, config) = workers(3);
    let [a, b, c] = [0, 1, 2].map(|i| workers[i].local_addr());
    let records = Arc::new(Mutex::new(Ok(vec![a, b])));
    let resolver = Arc::clone(&records);
    let client = rivulet::Client::discover_with("fleet", config, move |name: &str| {
        assert_eq!(name, "fleet");
        let answer = match &*resolver.lock().unwrap() {
            Ok(addrs) => Ok(addrs.clone()),
            Err(message) => Err(std::io::Error::other(*message)),
        };
        async move { answer }
    })
    .await
    .unwrap();
    assert_eq!(client.workers().len(), 2);

    const N: u64 = 3000;
    let out = futures::stream::iter(0..N)
        .then(|x| async move {
            if x % 100 == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            x
        })
        .scatter(&client)
        .map(slow_inc)
        .buffered(16)
        .gather()
        .sink_to_list();

    eventually("some items came out", || out.len() > 200).await;
    // A resolution that fails changes nothing.
    *records.lock().unwrap() = Err("the DNS server is down");
    eventually("a failed resolution is counted", || {
        client.metrics().snapshot().membership.resolve_failures > 0
    })
    .await;
    assert_eq!(client.workers().len(), 2);

    // The name moves from {a, b} to {b, c}: c joins, a drains and leaves.
    *records.lock().unwrap() = Ok(vec![b, c]);
    eventually("c joined", || {
        client.workers().iter().any(|w| w.addr() == c)
    })
    .await;
    eventually("a left", || status_of(&client, a) == ["left"]).await;
    assert!(!client.workers().iter().any(|w| w.addr() == a));

    let out = within(out).await.unwrap();
    let expected: Vec<u64> = (1..=N).collect();
    let got: Vec<u64> = out.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(got, expected, "every item once, in order");

    // c took part of the work after it joined.
    let snapshot = client.metrics().snapshot();
    let finished_on_c: u64 = snapshot
        .workers
        .iter()
        .filter(|w| w.addr == c.to_string())
        .map(|w| w.finished)
        .sum();
    assert!(finished_on_c > 0, "{:?}", snapshot.workers);
    let m = &snapshot.membership;
    assert_eq!(m.name.as_deref(), Some("fleet"));
    assert_eq!((m.joined, m.left, m.addresses), (3, 1, 2), "{m:?}");
    let changes: Vec<_> = m
        .events
        .iter()
        .rev()
        .map(|e| (e.change, e.addr.clone()))
        .collect();
    use rivulet::remote::obs::MemberChange::*;
    for wanted in [
        (Joined, c.to_string()),
        (Draining, a.to_string()),
        (Left, a.to_string()),
    ] {
        assert!(changes.contains(&wanted), "{wanted:?} not in {changes:?}");
    }
    let text = client.metrics().prometheus();
    assert!(text.contains("\nrivulet_workers_left_total 1\n"), "{text}");
    assert!(
        text.contains("\nrivulet_workers_joined_total 3\n"),
        "{text}"
    );
    assert!(text.contains("\nrivulet_discovery_addresses 2\n"), "{text}");
    assert!(
        text.contains(&format!(
            "rivulet_worker_draining{{worker=\"0\",addr=\"{a}\"}} 1"
        )),
        "{text}"
    );
    // Leaving was on purpose: no "worker lost" error for a.
    assert!(
        snapshot.errors.iter().all(|e| e.what != "worker lost"),
        "{:?}",
        snapshot.errors
    );

    // A retired worker is not dialled again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!client.workers().iter().any(|w| w.addr() == a));
    client.shutdown().await;
    for worker in workers {
        worker.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_comes_back_under_the_name_rejoins() {
    let (workers, mut config) = workers(2);
    config.connect_timeout = Duration::from_millis(200);
    let [a, b] = [0, 1].map(|i| workers[i].local_addr());
    let records = Arc::new(Mutex::new(vec![a, b]));
    let resolver = Arc::clone(&records);
    let client = rivulet::Client::discover_with("fleet", config, move |_: &str| {
        let addrs = resolver.lock().unwrap().clone();
        async move { Ok(addrs) }
    })
    .await
    .unwrap();
    // b's address leaves the name and comes back: b is a new member.
    *records.lock().unwrap() = vec![a];
    eventually("b left", || status_of(&client, b) == ["left"]).await;
    *records.lock().unwrap() = vec![a, b];
    eventually("b is back", || {
        status_of(&client, b) == ["left", "connected"]
    })
    .await;
    let answer = client.submit(slow_inc, 41);
    assert_eq!(within(answer.fetch()).await.unwrap(), 42);

    // A new address that does not answer is recorded as unreachable once, however often it
    // is tried again.
    let absent = {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap()
    };
    *records.lock().unwrap() = vec![a, b, absent];
    let resolutions = client.metrics().snapshot().membership.resolutions;
    eventually("several tries", || {
        client.metrics().snapshot().membership.resolutions > resolutions + 5
    })
    .await;
    let m = client.metrics().snapshot().membership;
    assert_eq!(m.unreachable, 1, "{m:?}");
    assert_eq!(client.workers().len(), 2);
    client.shutdown().await;
    for worker in workers {
        worker.shutdown().await;
    }
}

#[tokio::test]
async fn discover_resolves_a_real_name_and_says_what_is_wrong() {
    let (workers, config) = workers(1);
    let port = workers[0].local_addr().port();
    // `localhost` comes from the hosts file: no DNS server is asked.
    let client = rivulet::Client::discover(&format!("localhost:{port}"), config.clone())
        .await
        .unwrap();
    assert_eq!(within(client.submit(slow_inc, 1).fetch()).await.unwrap(), 2);
    assert!(
        client
            .metrics()
            .prometheus()
            .contains("rivulet_discovery_resolutions_total 1")
    );
    client.close();

    // No port: the resolver says so before asking anyone.
    let error = rivulet::Client::discover("localhost", config.clone())
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Resolve { .. }), "{error}");
    assert!(
        error.to_string().contains("cannot resolve localhost"),
        "{error}"
    );
    let empty = rivulet::Client::discover_with("nothing", config, |_: &str| async { Ok(vec![]) })
        .await
        .unwrap_err();
    assert!(matches!(empty, ClientError::NoAddresses { .. }), "{empty}");
    for worker in workers {
        worker.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_worker_that_leaves_the_name_is_not_dialled_again() {
    let identity = Identity::self_signed(vec!["localhost".to_owned()]).unwrap();
    let (mut workers, config) = workers_as(&identity, 2);
    let [a, b] = [0, 1].map(|i| workers[i].local_addr());
    let records = Arc::new(Mutex::new(vec![a, b]));
    let resolver = Arc::clone(&records);
    let client = rivulet::Client::discover_with("fleet", config, move |_: &str| {
        let addrs = resolver.lock().unwrap().clone();
        async move { Ok(addrs) }
    })
    .await
    .unwrap();
    // b stops: its link is lost, and dialled again while its address stays in the name.
    workers.pop().unwrap().shutdown().await;
    eventually("b lost", || status_of(&client, b) == ["lost"]).await;
    *records.lock().unwrap() = vec![a];
    eventually("b left", || status_of(&client, b) == ["left"]).await;
    // A worker at b's address again is not dialled: b is not a member any more.
    let again =
        Worker::spawn(WorkerConfig::new(identity, WorkerAuth::Secret(SECRET.to_vec())).listen(b))
            .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(status_of(&client, b), ["left"]);
    assert_eq!(
        client
            .workers()
            .iter()
            .map(|w| w.addr())
            .collect::<Vec<_>>(),
        [a]
    );
    let m = client.metrics().snapshot().membership;
    assert_eq!((m.joined, m.left), (2, 1), "{m:?}");
    client.shutdown().await;
    again.shutdown().await;
    for worker in workers {
        worker.shutdown().await;
    }
}
