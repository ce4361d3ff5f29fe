//! The review's findings, over real QUIC and real workers: large values travel in pieces and
//! lose no worker; a value over the limit fails alone with a typed error; the kind of a task's
//! failure survives the wire; a long accumulation holds values bounded by its buffer; workers
//! added at once get distinct ids; default slots follow `.workers(n)`; dropping a worker never
//! waits for its thread; a child worker's secret is not in its environment, and it takes the
//! builder's limits.
#![cfg(feature = "remote")]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rivulet::prelude::*;
use rivulet::remote::obs::WorkerStats;
use rivulet::remote::proto::Limits;
use rivulet::remote::transport::{Identity, TransportSettings};
use rivulet::remote::{ClientAuth, ConnectConfig};
use rivulet::worker::{Worker, WorkerAuth, WorkerConfig, WorkerProcess};
use rivulet::{Client, TaskErrorKind};
use support::within;

#[rivulet::remote]
fn byte_len(bytes: Vec<u8>) -> u64 {
    bytes.len() as u64
}

#[rivulet::remote]
fn identity_bytes(bytes: Vec<u8>) -> Vec<u8> {
    bytes
}

#[rivulet::remote]
fn grow(n: u64) -> Vec<u8> {
    vec![7; usize::try_from(n).unwrap_or(0)]
}

#[rivulet::remote]
fn explode(x: i64) -> i64 {
    if x == 3 {
        panic!("three is right out");
    }
    x
}

#[rivulet::remote]
fn refuse(x: i64) -> Result<i64, String> {
    if x == 2 {
        Err("two is refused".into())
    } else {
        Ok(x)
    }
}

#[rivulet::remote]
fn running_sum(total: i64, x: i64) -> (i64, i64) {
    (total + x, total + x)
}

static SLOW_DONE: AtomicBool = AtomicBool::new(false);

#[rivulet::remote]
fn slow_then_mark(x: i64) -> i64 {
    std::thread::sleep(Duration::from_secs(3));
    SLOW_DONE.store(true, Ordering::SeqCst);
    x
}

/// Not a test of its own: the entry point of the child-process workers started below.
#[test]
fn worker_process_entry() {
    rivulet::worker::run_if_worker();
}

/// The review's first finding: one 80 MiB value among small ones lost every worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_value_travels_in_pieces_and_loses_no_worker() {
    let client = Client::local(2).await.expect("workers start");
    let items = vec![
        vec![1u8; 10],
        vec![7u8; 80 << 20],
        vec![2u8; 10],
        vec![3u8; 10],
    ];
    let lens: Vec<_> = within(
        futures::stream::iter(items)
            .scatter(&client)
            .map(byte_len)
            .buffered(4)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(lens, vec![Ok(10), Ok(80 << 20), Ok(10), Ok(10)]);
    assert_eq!(client.workers().len(), 2, "no worker was lost");

    // Task results and fetches of large values come back in pieces too.
    let echoed = client.scatter(vec![9u8; 20 << 20]);
    let fetched = within(echoed.fetch()).await.expect("fetched");
    assert_eq!(fetched.len(), 20 << 20);
    let made: Vec<_> = within(
        futures::stream::iter([5u64 << 20])
            .scatter(&client)
            .map(grow)
            .map(identity_bytes)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert!(matches!(&made[..], [Ok(v)] if v.len() == 5 << 20 && v.iter().all(|b| *b == 7)));
    assert_eq!(client.workers().len(), 2);
}

/// A value over the limit fails that item alone, with a typed error naming the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_over_the_limit_fails_alone() {
    let limits = Limits {
        max_value: 4 << 20,
        ..Limits::default()
    };
    let client = Client::builder()
        .workers(2)
        .limits(limits)
        .build()
        .await
        .expect("workers start");
    // Scattered: refused here, before it is sent.
    let items = vec![vec![1u8; 10], vec![7u8; 5 << 20], vec![2u8; 10]];
    let out: Vec<_> = within(
        futures::stream::iter(items)
            .scatter(&client)
            .map(byte_len)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out[0], Ok(10));
    let error = out[1].clone().expect_err("over the limit");
    assert_eq!(error.kind(), TaskErrorKind::ValueTooLarge);
    assert!(
        error.to_string().contains(&(4u64 << 20).to_string()),
        "{error}"
    );
    assert_eq!(out[2], Ok(10));
    // Made by a task on the worker: that task fails, the connection lives on.
    let out: Vec<_> = within(
        futures::stream::iter([10u64, 6 << 20, 20])
            .scatter(&client)
            .map(grow)
            .map(identity_bytes)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert!(matches!(&out[0], Ok(v) if v.len() == 10));
    let error = out[1].clone().expect_err("over the worker's limit");
    assert_eq!(error.kind(), TaskErrorKind::ValueTooLarge, "{error}");
    assert!(matches!(&out[2], Ok(v) if v.len() == 20));
    assert_eq!(client.workers().len(), 2, "no worker was lost");
}

/// The kind of a task's failure survives the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_kinds_survive_the_wire() {
    let client = Client::local(1).await.expect("workers start");
    let out: Vec<_> = within(
        futures::stream::iter(0..5_i64)
            .scatter(&client)
            .map(explode)
            .map(refuse)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out[0], Ok(0));
    assert_eq!(out[2].clone().unwrap_err().kind(), TaskErrorKind::Failed);
    assert!(
        out[2]
            .clone()
            .unwrap_err()
            .to_string()
            .contains("two is refused")
    );
    let panicked = out[3].clone().unwrap_err();
    assert_eq!(panicked.kind(), TaskErrorKind::Panicked);
    assert!(
        panicked.to_string().contains("three is right out"),
        "{panicked}"
    );
    assert_eq!(out[4], Ok(4));
}

/// The review's second finding: a long remote accumulate kept every state alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_accumulate_holds_values_bounded_by_the_buffer() {
    let client = Client::local(2).await.expect("workers start");
    let stats = WorkerStats::global();
    let before = stats.values_held();
    let gathered = futures::stream::iter(0..20_000_i64)
        .scatter(&client)
        .accumulate(0, running_sum)
        .buffered(32)
        .gather();
    futures::pin_mut!(gathered);
    let (mut count, mut peak, mut total) = (0_i64, 0, 0_i64);
    while let Some(item) = within(gathered.next()).await {
        total += count;
        assert_eq!(item, Ok(total));
        count += 1;
        peak = peak.max(stats.values_held().saturating_sub(before));
    }
    assert_eq!(count, 20_000);
    assert!(
        peak < 1_000,
        "values held on the workers peaked at {peak} for buffered(32)"
    );
}

/// The review's third finding: concurrent `add_worker` calls got the same index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_added_at_once_get_distinct_ids() {
    let secret = b"distinct ids".to_vec();
    let mut certs = Vec::new();
    let mut workers = Vec::new();
    for _ in 0..3 {
        let identity = Identity::self_signed(vec!["localhost".into()]).expect("cert");
        certs.extend(identity.certs.iter().take(1).cloned());
        workers.push(
            Worker::spawn(WorkerConfig::new(identity, WorkerAuth::Secret(secret.clone())).slots(1))
                .expect("worker starts"),
        );
    }
    let config = ConnectConfig::new(
        rivulet::remote::Trust::Pinned(certs),
        ClientAuth::Secret(secret),
    );
    let client = Client::connect([workers[0].local_addr()], config)
        .await
        .expect("connects");
    let (a, b) = within(async {
        futures::join!(
            client.add_worker(workers[1].local_addr()),
            client.add_worker(workers[2].local_addr())
        )
    })
    .await;
    let (a, b) = (a.expect("added"), b.expect("added"));
    assert_ne!(a.index(), b.index());
    let mut indices: Vec<usize> = client.workers().iter().map(|w| w.index()).collect();
    indices.sort_unstable();
    assert_eq!(indices, vec![0, 1, 2]);
}

/// The review's sixth finding: default slots were computed before `.workers(n)`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_slots_follow_the_number_of_workers() {
    let cores = rivulet::worker::default_slots();
    let one = Client::builder().workers(1).build().await.expect("starts");
    assert_eq!(one.slots(), cores);
    let many = Client::builder().workers(4).build().await.expect("starts");
    assert_eq!(many.slots(), 4 * (cores / 4).max(1));
}

/// The review's fifth finding: dropping a worker joined its thread, which waits for its
/// running tasks. Now a drop returns before a running 3-second task has finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_worker_does_not_wait_for_its_tasks() {
    let client = Client::local(1).await.expect("starts");
    let running = client.scatter(1_i64);
    let handles: Vec<_> = futures::stream::iter([1_i64])
        .scatter(&client)
        .map(slow_then_mark)
        .into_futures()
        .collect()
        .await;
    drop(running);
    // Give the task time to reach its slot, then drop every handle: the client and its
    // worker go at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(handles);
    drop(client);
    assert!(
        !SLOW_DONE.load(Ordering::SeqCst),
        "the drop waited for the running task"
    );
}

/// The review's seventh finding: a child worker's secret was in its environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_workers_secret_is_not_in_its_environment() {
    let secret = b"do-not-leak-this-secret-0123456789".to_vec();
    let child = WorkerProcess::spawn(
        1,
        &secret,
        &TransportSettings::default(),
        &[
            "--exact".into(),
            "worker_process_entry".into(),
            "--nocapture".into(),
        ],
    )
    .await
    .expect("child starts");
    let pid = child.pid().expect("running");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ readable");
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let text = String::from_utf8_lossy(&environ);
    assert!(
        !text.contains(&hex) && !text.contains("do-not-leak"),
        "secret in environ"
    );
    assert!(text.contains("RIVULET_WORKER=1"));
    // And the child serves with that secret.
    let config = ConnectConfig::new(
        rivulet::remote::Trust::Pinned(vec![child.certificate().clone()]),
        ClientAuth::Secret(secret),
    );
    let client = Client::connect([child.local_addr()], config)
        .await
        .expect("connects with the secret");
    assert_eq!(within(client.scatter(5_i64).fetch()).await, Ok(5));
    client.shutdown().await;
    within(child.shutdown()).await;
}

/// Child-process workers are held to the builder's limits, as in-process ones are (they kept
/// the defaults: a quota of 8 MiB was 4 GiB in a child).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process_workers_take_the_builders_limits() {
    let limits = Limits {
        max_bytes_held: 8 << 20,
        ..Limits::default()
    };
    let client = within(
        Client::builder()
            .workers(1)
            .processes(true)
            .worker_args(["--exact", "worker_process_entry", "--nocapture"])
            .limits(limits)
            .build(),
    )
    .await
    .expect("the child worker starts");
    // 130 values of 64 KiB: more than the 8 MiB quota, kept for the whole test.
    let held: Vec<_> = (0..130)
        .map(|_| client.scatter(vec![3u8; 65_533]))
        .collect();
    let out: Vec<_> = within(
        futures::stream::iter(0..3)
            .scatter(&client)
            .map(explode)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    for item in &out {
        let error = item.clone().expect_err("over the child's quota");
        assert_eq!(error.kind(), TaskErrorKind::Overloaded, "{error}");
    }
    assert_eq!(client.workers().len(), 1, "the worker was lost");
    drop(held);
    client.shutdown().await;
}
