//! Authenticated but greedy clients, speaking the protocol by hand over real QUIC, are held to
//! their quotas: a trickled frame is cut off, a task flood is refused past the task quota and
//! shares the slots fairly, a client that reads no replies is back-pressured, values past the
//! bytes quota are refused typed, and a client's queued tasks go with its connection.
#![cfg(feature = "remote")]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rivulet::prelude::*;
use rivulet::remote::proto::{FailureKind, Limits, Reply, Response};
use rivulet::remote::transport::{Identity, Trust};
use rivulet::remote::{ClientAuth, ConnectConfig};
use rivulet::worker::{Worker, WorkerAuth, WorkerConfig, WorkerTimeouts};
use rivulet::{Client, TaskErrorKind};
use support::raw_client::{
    self, MEMORY, Welcomed, closed_by_worker, fetch, function_named, scatter,
};
use support::within;

const SECRET: &[u8] = b"greedy but authenticated";

#[rivulet::remote]
fn negate(x: i64) -> i64 {
    -x
}

static FLOOD_STARTED: AtomicUsize = AtomicUsize::new(0);
static FLOOD_FINISHED: AtomicUsize = AtomicUsize::new(0);

/// The flooder's task: slow, and counted.
#[rivulet::remote]
fn flood_task(x: i64) -> i64 {
    FLOOD_STARTED.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    FLOOD_FINISHED.fetch_add(1, Ordering::SeqCst);
    x
}

static ABANDONED_STARTED: AtomicUsize = AtomicUsize::new(0);

/// The task of a client that leaves with 200 of them queued.
#[rivulet::remote]
fn abandoned_task(x: i64) -> i64 {
    ABANDONED_STARTED.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(100));
    x
}

fn worker_with(configure: impl FnOnce(WorkerConfig) -> WorkerConfig) -> (Worker, Trust) {
    let identity = Identity::self_signed(vec!["localhost".to_owned()]).unwrap();
    let trust = identity.trust_pinned();
    let config = WorkerConfig::new(identity, WorkerAuth::Secret(SECRET.to_vec())).slots(2);
    (Worker::spawn(configure(config)).unwrap(), trust)
}

fn limits(limits: Limits) -> impl FnOnce(WorkerConfig) -> WorkerConfig {
    move |c| WorkerConfig { limits, ..c }
}

async fn legit_client(worker: &Worker, trust: &Trust) -> Client {
    Client::connect(
        [worker.local_addr()],
        ConnectConfig::new(trust.clone(), ClientAuth::Secret(SECRET.to_vec())),
    )
    .await
    .unwrap()
}

async fn still_served(client: &Client) {
    let out: Vec<_> = within(
        futures::stream::iter(1..4)
            .scatter(client)
            .map(negate)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out, vec![Ok(-1), Ok(-2), Ok(-3)]);
}

async fn welcomed(worker: &Worker, trust: &Trust) -> Welcomed {
    within(Welcomed::new(worker.local_addr(), trust, SECRET)).await
}

fn encoded<T: serde::Serialize>(value: &T) -> Bytes {
    Bytes::from(postcard::to_allocvec(value).unwrap())
}

fn is_overloaded(reply: &Reply) -> bool {
    matches!(&reply.response, Response::Failed(f) if f.kind == FailureKind::Overloaded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_frame_is_closed_as_stalled() {
    let (worker, trust) = worker_with(|c| WorkerConfig {
        timeouts: WorkerTimeouts {
            frame: Duration::from_millis(500),
            ..WorkerTimeouts::default()
        },
        ..c
    });
    let legit = legit_client(&worker, &trust).await;
    let mut greedy = welcomed(&worker, &trust).await;
    // A 60 MiB frame (under the 64 MiB frame limit), then one byte every 100 ms.
    greedy
        .send
        .write_all(&(60u32 << 20).to_be_bytes())
        .await
        .unwrap();
    let mut send = greedy.send;
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if send.write_all(&[0]).await.is_err() {
                break;
            }
        }
    });
    // Well under the default frame timeout (30 s): the setting is what closes it.
    let reason = closed_by_worker(&greedy.connection, Duration::from_secs(10)).await;
    assert!(reason.contains("stalled"), "{reason}");
    within(trickle).await.unwrap();
    still_served(&legit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_flood_is_refused_past_the_quota_and_others_are_served_meanwhile() {
    let (worker, trust) = worker_with(limits(Limits {
        max_tasks: 8,
        ..Limits::default()
    }));
    let legit = legit_client(&worker, &trust).await;
    let mut flooder = welcomed(&worker, &trust).await;
    let function = function_named("flood_task");
    let mut messages = vec![scatter(0, encoded(&1_i64))];
    messages.extend((1..=1000).map(|id| raw_client::map(id, &function, 0, id)));
    flooder.send_all(&messages).await;

    // Every task past the quota is refused at once, typed; at most 8 are taken.
    let mut done = 0;
    let mut overloaded = 0;
    let mut checked = false;
    while overloaded + done < 1000 {
        let reply = within(flooder.reply()).await.expect("a reply");
        if is_overloaded(&reply) {
            overloaded += 1;
        } else {
            assert!(matches!(reply.response, Response::Done { .. }), "{reply:?}");
            done += 1;
        }
        if overloaded == 1000 - 8 && !checked {
            checked = true;
            // The flooder still has all its taken tasks queued or running: another client's
            // items get their turn on the slots before the flood's are all done.
            // With one queue for all clients they would wait for all 8 (1.2 s); with a lane
            // per connection, taken in turn, only for the 2 running.
            let finished_before = FLOOD_FINISHED.load(Ordering::SeqCst);
            assert!(finished_before < 8, "the flood finished before the check");
            let handles: Vec<_> = futures::stream::iter([1_i64, 2])
                .scatter(&legit)
                .map(negate)
                .into_futures()
                .collect()
                .await;
            for (x, handle) in [1_i64, 2].iter().zip(&handles) {
                assert_eq!(within(handle.fetch()).await, Ok(-x));
            }
            let finished = FLOOD_FINISHED.load(Ordering::SeqCst);
            assert!(
                finished < 8,
                "the legitimate client waited for the whole flood ({finished} of 8 done)"
            );
        }
    }
    assert!(checked);
    assert_eq!(overloaded, 1000 - 8, "{done} tasks taken");
    assert_eq!(done, 8);
    assert_eq!(
        FLOOD_STARTED.load(Ordering::SeqCst),
        8,
        "only taken tasks run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_no_replies_is_back_pressured() {
    let (worker, trust) = worker_with(|c| c);
    let legit = legit_client(&worker, &trust).await;
    let _alone = MEMORY.lock().await;
    let baseline = raw_client::rss();
    let mut greedy = welcomed(&worker, &trust).await;
    greedy.send(&scatter(0, vec![7u8; 4 << 20])).await;
    // 64 fetches of the 4 MiB value: 256 MiB of replies, none of them read.
    let fetches: Vec<_> = (1..=64).map(|id| fetch(id, 0)).collect();
    greedy.send_all(&fetches).await;
    // Past the worker's unread quota (16 MiB) it reads nothing more from this client: our
    // writes stop completing once its receive window (4 MiB) is full.
    let mut written = 0;
    let mut stalled = None;
    for key in 1..=64u64 {
        let message = rivulet::remote::proto::ClientMessage::Release(vec![
            rivulet::remote::proto::Key(key);
            1
        ]);
        let mut frame = support::fake_worker::frame(&message);
        // Pad each write to 1 MiB with more releases of unknown keys (harmless).
        let pad = support::fake_worker::frame(&rivulet::remote::proto::ClientMessage::Release(
            vec![rivulet::remote::proto::Key(u64::MAX); 100_000],
        ));
        frame.extend_from_slice(&pad);
        let write = greedy.send.write_all(&frame);
        match tokio::time::timeout(Duration::from_secs(2), write).await {
            Ok(result) => {
                result.unwrap();
                written += frame.len();
            }
            Err(_) => {
                stalled = Some(key);
                break;
            }
        }
    }
    assert!(
        stalled.is_some(),
        "the worker read {written} bytes from a client that reads no replies"
    );
    assert!(written < 64 << 20, "{written}");
    let grown = raw_client::rss().saturating_sub(baseline);
    assert!(
        grown < 200 << 20,
        "resident memory grew by {} MiB",
        grown >> 20
    );
    // Another client is served meanwhile.
    still_served(&legit).await;
    // Once the client reads, the worker reads again: every fetch is answered in full.
    let mut values = 0;
    let mut bytes = 0usize;
    while values < 64 {
        let reply = within(greedy.reply()).await.expect("a reply");
        match reply.response {
            Response::ValuePart { total, chunk, .. } => {
                bytes += chunk.len();
                if bytes as u64 == total {
                    values += 1;
                    bytes = 0;
                }
            }
            other => panic!("unexpected reply {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_past_the_bytes_quota_are_refused_typed() {
    let (worker, trust) = worker_with(limits(Limits {
        max_bytes_held: 8 << 20,
        ..Limits::default()
    }));
    let _alone = MEMORY.lock().await;
    let baseline = raw_client::rss();
    let mut greedy = welcomed(&worker, &trust).await;
    // Zip(k, k) nine times from 1 MiB: 512 MiB unbounded. Held: 1 + 2 + 4 MiB fit; the
    // 8 MiB zip would take the client over its 8 MiB, and every zip of it fails the same.
    greedy.send(&scatter(0, vec![1u8; 1 << 20])).await;
    let zips: Vec<_> = (1..=9)
        .map(|k| raw_client::zip(k, k - 1, k - 1, k))
        .collect();
    greedy.send_all(&zips).await;
    for k in 1..=9u64 {
        let reply = within(greedy.reply()).await.expect("a reply");
        assert_eq!(reply.id, k);
        if k <= 2 {
            assert!(
                matches!(&reply.response, Response::Done { sizes, .. } if sizes[0] == (1 << 20) << k),
                "zip {k}: {reply:?}"
            );
        } else {
            assert!(is_overloaded(&reply), "zip {k}: {reply:?}");
        }
    }
    // Many scatters: those past the quota are kept as a typed failure, not as bytes.
    for key in 100..140 {
        greedy.send(&scatter(key, vec![2u8; 512 << 10])).await;
    }
    greedy.send(&fetch(1000, 139)).await;
    let reply = within(greedy.reply()).await.expect("a reply");
    assert!(is_overloaded(&reply), "{reply:?}");
    let grown = raw_client::rss().saturating_sub(baseline);
    assert!(
        grown < 100 << 20,
        "resident memory grew by {} MiB",
        grown >> 20
    );

    // Through the client API the items past the quota fail with the typed kind.
    // 65,533 bytes encode in 65,536: 128 of them fill the 8 MiB exactly.
    over_quota_items_fail_typed(65_533, 130).await;
}

/// Keeps `count` values of `len` bytes scattered to a worker that lets a client hold 8 MiB
/// (more than it takes), then maps small items: they are past the quota and fail as
/// `Overloaded`, and the worker stays.
async fn over_quota_items_fail_typed(len: usize, count: usize) {
    let limits = Limits {
        max_bytes_held: 8 << 20,
        ..Limits::default()
    };
    let client = Client::builder()
        .workers(1)
        .limits(limits)
        .build()
        .await
        .unwrap();
    // Held for the whole test, so never released.
    let held: Vec<_> = (0..count).map(|_| client.scatter(vec![3u8; len])).collect();
    let out: Vec<_> = within(
        futures::stream::iter(1..4)
            .scatter(&client)
            .map(negate)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    for item in &out {
        let error = item.clone().expect_err("over the quota");
        assert_eq!(error.kind(), TaskErrorKind::Overloaded, "{error}");
    }
    assert_eq!(client.workers().len(), 1, "the worker was lost");
    drop(held);
}

/// Values over one piece (1 MiB) travel as `ScatterPart`s; one that would take the client past
/// its quota is refused as a whole with a typed failure (its pieces are dropped as they come),
/// the values before it stay, and the connection lives on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_quota_values_in_pieces_fail_typed() {
    let limits = Limits {
        max_bytes_held: 8 << 20,
        ..Limits::default()
    };
    let client = Client::builder()
        .workers(1)
        .limits(limits)
        .build()
        .await
        .unwrap();
    // Each encodes in 1 MiB and 3 bytes, so it travels in pieces: seven fit in 8 MiB, and the
    // rest are refused on the worker (their keys hold the typed refusal; the client keeps the
    // bytes of what it scatters, so a fetch of one is answered here).
    let held: Vec<_> = (0..10)
        .map(|_| client.scatter(vec![3u8; 1 << 20]))
        .collect();
    let first = within(held[0].fetch()).await.expect("kept");
    assert_eq!(first.len(), 1 << 20);
    // The refused ones were not kept: small work still fits, on the same connection.
    let out: Vec<_> = within(
        futures::stream::iter(1..4)
            .scatter(&client)
            .map(negate)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out, vec![Ok(-1), Ok(-2), Ok(-3)]);
    assert_eq!(client.workers().len(), 1, "the worker was lost");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_s_queued_tasks_go_with_its_connection() {
    let (worker, trust) = worker_with(|c| c);
    let mut leaving = welcomed(&worker, &trust).await;
    let function = function_named("abandoned_task");
    let mut messages = vec![scatter(0, encoded(&1_i64))];
    messages.extend((1..=200).map(|id| raw_client::map(id, &function, 0, id)));
    leaving.send_all(&messages).await;
    within(async {
        while ABANDONED_STARTED.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    leaving.connection.close(0u32.into(), b"gone");
    drop(leaving);
    // The tasks on a slot finish; the rest are dropped. All 200 would take 10 s on 2 slots.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = ABANDONED_STARTED.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later = ABANDONED_STARTED.load(Ordering::SeqCst);
    assert_eq!(started, later, "tasks kept starting after the client left");
    assert!(started < 10, "{started} of 200 tasks ran");
    // Another client gets the slots at once.
    let legit = legit_client(&worker, &trust).await;
    tokio::time::timeout(Duration::from_secs(5), still_served(&legit))
        .await
        .expect("served well before the abandoned tasks would have run");
}
