//! Worker loss costs time, never data: every item comes out of `gather` exactly once and in
//! order while workers are shut down or killed mid-stream. Real QUIC, real time.
#![cfg(feature = "remote")]

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use rivulet::prelude::*;
use rivulet::remote::transport::{TransportSettings, Trust};
use rivulet::remote::{ClientAuth, ConnectConfig};
use rivulet::worker::{Worker, WorkerProcess};
use rivulet::{Client, TaskError};

#[rivulet::remote]
fn inc(x: i64) -> i64 {
    x + 1
}

/// Work that is slow on one chosen process: `(pid, item)` comes back.
#[derive(serde::Serialize, serde::Deserialize)]
struct Work {
    slow_pid: u32,
}

impl rivulet::RemoteFn for Work {
    const NAME: &'static str = "faults_worker_loss::Work";
    type Input = i64;
    type Output = (u32, i64);
    type Error = std::convert::Infallible;

    fn call(&self, x: i64) -> Result<(u32, i64), Self::Error> {
        let pid = std::process::id();
        let pause = if pid == self.slow_pid { 100 } else { 5 };
        std::thread::sleep(Duration::from_millis(pause));
        Ok((pid, x))
    }
}
rivulet::register!(Work);

const SECRET: &[u8] = b"faults";
const ITEMS: i64 = 10_000;

/// Not a test of its own: the entry point of the worker processes these tests start.
#[test]
fn worker_process_entry() {
    rivulet::worker::run_if_worker();
}

fn in_process_workers(n: usize) -> (Vec<Worker>, Trust) {
    support::workers::in_process(n, 2, SECRET)
}

async fn process_workers(n: usize, slots: usize) -> Vec<WorkerProcess> {
    let args = [
        "--exact".to_owned(),
        "worker_process_entry".to_owned(),
        "--nocapture".to_owned(),
    ];
    let mut workers = Vec::new();
    for _ in 0..n {
        workers.push(
            WorkerProcess::spawn(slots, SECRET, &TransportSettings::default(), &args)
                .await
                .expect("worker process starts"),
        );
    }
    workers
}

async fn connect(addrs: Vec<std::net::SocketAddr>, trust: Trust) -> Client {
    Client::connect(
        addrs,
        ConnectConfig::new(trust, ClientAuth::Secret(SECRET.to_vec())),
    )
    .await
    .expect("connects")
}

/// Runs `ITEMS` items through scatter → map → buffered(64) → gather, calling `fault` once
/// `at` items have come out; checks every item comes out once, in order, without error.
async fn survive<F, Fut>(client: &Client, at: usize, fault: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut gathered = futures::stream::iter(0..ITEMS)
        .scatter(client)
        .map(inc)
        .buffered(64)
        .gather();
    let mut fault = Some(fault);
    let mut expected = 1;
    let deadline = Instant::now() + Duration::from_secs(120);
    while let Some(result) = tokio::time::timeout_at(deadline.into(), gathered.next())
        .await
        .expect("the stream goes on")
    {
        assert_eq!(result, Ok(expected), "item {expected}");
        expected += 1;
        if expected as usize == at + 1 {
            if let Some(fault) = fault.take() {
                fault().await;
            }
        }
    }
    assert_eq!(expected, ITEMS + 1, "every item came out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_an_in_process_worker_loses_nothing() {
    let (mut workers, trust) = in_process_workers(3);
    let client = connect(workers.iter().map(Worker::local_addr).collect(), trust).await;
    let doomed = workers.remove(0);
    survive(&client, 2_000, || async move {
        doomed.shutdown().await;
    })
    .await;
    assert_eq!(client.workers().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_worker_process_loses_nothing() {
    let mut workers = process_workers(2, 2).await;
    let trust = Trust::Pinned(workers.iter().map(|w| w.certificate().clone()).collect());
    let client = connect(
        workers.iter().map(WorkerProcess::local_addr).collect(),
        trust,
    )
    .await;
    let mut doomed = workers.remove(0);
    let noticed = Instant::now();
    survive(&client, 3_000, || async move {
        doomed.kill().await.expect("SIGKILL");
    })
    .await;
    // The loss was noticed (keep-alive 200 ms, idle timeout 1 s) and the stream went on.
    assert_eq!(client.workers().len(), 1);
    assert!(noticed.elapsed() < Duration::from_secs(120));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_workers_gone_is_an_error_not_a_hang() {
    let (mut workers, trust) = in_process_workers(1);
    let client = connect(vec![workers[0].local_addr()], trust).await;
    let first: Vec<Result<i64, TaskError>> = futures::stream::iter(0..3)
        .scatter(&client)
        .map(inc)
        .gather()
        .collect()
        .await;
    assert_eq!(first, vec![Ok(1), Ok(2), Ok(3)]);

    let only = workers.remove(0);
    only.shutdown().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !client.workers().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let orphaned: Vec<Result<i64, TaskError>> = tokio::time::timeout(
        Duration::from_secs(30),
        futures::stream::iter(0..3)
            .scatter(&client)
            .map(inc)
            .gather()
            .collect(),
    )
    .await
    .expect("gather does not hang with no workers");
    for result in &orphaned {
        let error = result.as_ref().unwrap_err();
        assert!(error.to_string().contains("worker"), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_workers_get_new_work() {
    let (workers, trust) = in_process_workers(2);
    let client = connect(vec![workers[0].local_addr()], trust).await;
    let id = client
        .add_worker(workers[1].local_addr())
        .await
        .expect("second worker joins");
    let handles: Vec<rivulet::RemoteFuture<i64>> = futures::stream::iter(0..20)
        .scatter(&client)
        .map(inc)
        .into_futures()
        .collect()
        .await;
    assert!(
        handles.iter().any(|h| h.worker() == id),
        "no work went to the added worker"
    );
    for (x, handle) in handles.iter().enumerate() {
        assert_eq!(handle.fetch().await, Ok(x as i64 + 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_worker_does_not_set_the_pace() {
    let workers = process_workers(2, 1).await;
    let trust = Trust::Pinned(workers.iter().map(|w| w.certificate().clone()).collect());
    let client = connect(
        workers.iter().map(WorkerProcess::local_addr).collect(),
        trust,
    )
    .await;
    let slow_pid = workers[0].pid().expect("running");
    let results: Vec<(u32, i64)> = futures::stream::iter(0..100)
        .scatter(&client)
        .map(Work { slow_pid })
        .buffered(8)
        .gather()
        .map(|r| r.expect("task ran"))
        .collect()
        .await;
    assert_eq!(
        results.iter().map(|r| r.1).collect::<Vec<_>>(),
        (0..100).collect::<Vec<_>>()
    );
    let on_slow = results.iter().filter(|r| r.0 == slow_pid).count();
    // Round-robin would give the slow worker half the items; placement by outstanding work
    // gives it far fewer (it is 20 times slower).
    assert!(on_slow < 30, "the slow worker ran {on_slow} of 100 items");
}

#[rivulet::remote]
fn slow_double(x: i64) -> i64 {
    std::thread::sleep(Duration::from_millis(700));
    2 * x
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_running_tasks_finish() {
    let mut workers = process_workers(1, 2).await;
    let trust = Trust::Pinned(vec![workers[0].certificate().clone()]);
    let client = connect(vec![workers[0].local_addr()], trust).await;
    let handles: Vec<rivulet::RemoteFuture<i64>> = futures::stream::iter([1, 2])
        .scatter(&client)
        .map(slow_double)
        .into_futures()
        .collect()
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await; // both are running now
    let pid = workers[0].pid().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
    for (x, handle) in [1, 2].iter().zip(&handles) {
        assert_eq!(
            handle.fetch().await,
            Ok(2 * x),
            "a running task was cut short"
        );
    }
    let exited = tokio::time::timeout(Duration::from_secs(10), workers[0].wait()).await;
    assert!(
        matches!(exited, Ok(Ok(status)) if status.success()),
        "{exited:?}"
    );
}
