//! The client trusts no worker: fake workers over real QUIC (a server endpoint with the
//! worker's TLS settings, doing the handshake by hand) that never answer, answer nonsense,
//! send garbage or huge frames, or open streams toward the client, cost it a typed error on
//! the items concerned, never a hang, a panic or a jump in memory.
#![cfg(feature = "remote")]

mod support;

use std::time::Duration;

use bytes::Bytes;
use rivulet::prelude::*;
use rivulet::remote::proto::{ClientMessage, Key, Reply, Request, Response, Task};
use rivulet::remote::{ClientError, TransportSettings};
use rivulet::{Client, TaskError, TaskErrorKind};
use support::fake_worker::{FakeWorker, Session, encoded};
use support::raw_client::{MEMORY, rss};
use support::within;

#[rivulet::remote]
fn same(x: i64) -> i64 {
    x
}

/// Runs `items` through `same` on `client` and gathers them, within the guard.
async fn gathered(client: &Client, items: Vec<i64>) -> Vec<Result<i64, TaskError>> {
    within(
        futures::stream::iter(items)
            .scatter(client)
            .map(same)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await
}

/// Every item failed because the worker is gone: lost, or none left to make it again.
fn all_lost(out: &[Result<i64, TaskError>]) {
    assert!(!out.is_empty());
    for item in out {
        let error = item.as_ref().expect_err("the worker is broken");
        assert!(
            matches!(
                error.kind(),
                TaskErrorKind::WorkerLost | TaskErrorKind::NoWorkers
            ),
            "{error}"
        );
    }
}

/// A fake that welcomes the client and then reads everything, answering nothing.
async fn silent(connection: quinn::Connection) {
    let Some(mut session) = Session::welcomed(connection).await else {
        return;
    };
    while session.next().await.is_some() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_never_answers_fails_items_at_the_request_deadline() {
    let fake = FakeWorker::start(silent);
    let mut config = fake.connect_config();
    config.request_timeout = Some(Duration::from_millis(500));
    let client = within(Client::connect([fake.addr], config)).await.unwrap();
    let out = gathered(&client, vec![1, 2, 3]).await;
    all_lost(&out);
    within(fake.given_up()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_with_unknown_ids_drop_the_link() {
    let fake = FakeWorker::start(|connection| async move {
        let Some(mut session) = Session::welcomed(connection).await else {
            return;
        };
        while let Some(message) = session.next().await {
            if let ClientMessage::Request { id, .. } = message {
                let reply = Reply {
                    id: id.wrapping_add(1_000_000),
                    response: Response::Done {
                        sizes: vec![1],
                        verdict: None,
                        values: vec![Some(Bytes::from(encoded(&0_i64)))],
                    },
                };
                if session.reply(reply).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut config = fake.connect_config();
    // No deadline: only the unknown id can end the wait.
    config.request_timeout = None;
    let client = within(Client::connect([fake.addr], config)).await.unwrap();
    let out = gathered(&client, vec![1, 2, 3]).await;
    all_lost(&out);
    within(fake.given_up()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetched_value_with_trailing_bytes_is_a_codec_error() {
    // The fake runs `same` itself: it keeps what is scattered, answers a task without its
    // value, and answers the fetch with the value, followed by garbage when it is negative.
    let fake = FakeWorker::start(|connection| async move {
        let Some(mut session) = Session::welcomed(connection).await else {
            return;
        };
        let mut values = std::collections::HashMap::new();
        while let Some(message) = session.next().await {
            let reply = match message {
                ClientMessage::Scatter { key, value } => {
                    values.insert(key, value);
                    continue;
                }
                ClientMessage::Request {
                    id,
                    request: Request::Submit(task),
                } => answer_task(&mut values, id, task),
                ClientMessage::Request {
                    id,
                    request: Request::SubmitWith { task, inputs },
                } => {
                    values.extend(inputs);
                    answer_task(&mut values, id, task)
                }
                ClientMessage::Request {
                    id,
                    request: Request::Fetch { key },
                } => {
                    let mut bytes = values.get(&key).cloned().unwrap_or_default().to_vec();
                    if postcard::from_bytes::<i64>(&bytes).is_ok_and(|x| x < 0) {
                        bytes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
                    }
                    Reply {
                        id,
                        response: Response::Value(Bytes::from(bytes)),
                    }
                }
                _ => continue,
            };
            if session.reply(reply).await.is_err() {
                return;
            }
        }
    });
    let client = within(Client::connect([fake.addr], fake.connect_config()))
        .await
        .unwrap();
    let out = gathered(&client, vec![5, -5, 6]).await;
    assert_eq!(out[0], Ok(5));
    let error = out[1].clone().expect_err("trailing bytes");
    assert_eq!(error.kind(), TaskErrorKind::Codec, "{error}");
    assert_eq!(out[2], Ok(6));
    // The same through a handle's fetch.
    let handles: Vec<_> = futures::stream::iter([-7_i64])
        .scatter(&client)
        .map(same)
        .into_futures()
        .collect()
        .await;
    let error = within(handles[0].fetch())
        .await
        .expect_err("trailing bytes");
    assert_eq!(error.kind(), TaskErrorKind::Codec, "{error}");
    assert_eq!(
        client.workers().len(),
        1,
        "a bad value is the item's error only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_of_u64_max_do_not_panic_the_client() {
    let fake = FakeWorker::start(|connection| async move {
        let Some(mut session) = Session::welcomed(connection).await else {
            return;
        };
        while let Some(message) = session.next().await {
            if let ClientMessage::Request { id, .. } = message {
                let reply = Reply {
                    id,
                    response: Response::Done {
                        sizes: vec![u64::MAX],
                        verdict: None,
                        values: vec![Some(Bytes::from(encoded(&7_i64)))],
                    },
                };
                if session.reply(reply).await.is_err() {
                    return;
                }
            }
        }
    });
    let client = within(Client::connect([fake.addr], fake.connect_config()))
        .await
        .unwrap();
    // Several, so that sums of the sizes overflow too; built with overflow checks, a panic in
    // the metrics (inside a destructor) would abort this test binary.
    let out = gathered(&client, (0..8).collect()).await;
    assert!(out.iter().all(|item| *item == Ok(7)), "{out:?}");
    let _ = client.metrics().snapshot();
    let _ = client.metrics().prometheus();
    client.close();
    let _ = client.metrics().snapshot();
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_opened_toward_the_client_never_open() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let fake = FakeWorker::start(move |connection| {
        let tx = tx.lock().unwrap().take();
        async move {
            let Some(session) = Session::welcomed(connection).await else {
                return;
            };
            let never = Duration::from_millis(500);
            let bi = tokio::time::timeout(never, session.connection.open_bi()).await;
            let uni = tokio::time::timeout(never, session.connection.open_uni()).await;
            if let Some(tx) = tx {
                let _ = tx.send((bi.is_err(), uni.is_err()));
            }
            session.hold().await;
        }
    });
    let client = within(Client::connect([fake.addr], fake.connect_config()))
        .await
        .unwrap();
    let (bi_refused, uni_refused) = within(rx).await.unwrap();
    assert!(bi_refused, "the worker opened a bidirectional stream");
    assert!(uni_refused, "the worker opened a unidirectional stream");
    assert_eq!(client.workers().len(), 1);
}

/// A `HelloReply::Refused(MissingFunctions([one function named by 40 MB]))` frame's first
/// bytes: variant 1, variant 2, one function, and the length of its name.
fn huge_refusal_prefix(len: u32) -> Vec<u8> {
    let mut prefix = vec![1, 2, 1];
    let name = u64::from(len) - 8;
    prefix.extend(postcard::to_allocvec(&name).unwrap());
    prefix
}

const HUGE: u32 = 40_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_40_mb_refusal_is_refused_without_being_read() {
    let fake = FakeWorker::start(|connection| async move {
        let Some(mut session) = Session::accept(connection).await else {
            return;
        };
        session.huge_frame(HUGE, &huge_refusal_prefix(HUGE)).await;
        session.hold().await;
    });
    let _alone = MEMORY.lock().await;
    let before = rss();
    let connected = within(Client::connect([fake.addr], fake.connect_config())).await;
    let grown = rss().saturating_sub(before);
    match connected {
        Err(ClientError::Handshake { source, .. }) => {
            assert!(source.to_string().contains("exceeds"), "{source}");
        }
        Err(other @ ClientError::Connect { .. }) => drop(other),
        other => panic!("expected a handshake error, got {other:?}"),
    }
    assert!(
        grown < 100 << 20,
        "client memory grew by {} MiB",
        grown >> 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_40_mb_reply_frame_drops_the_link_without_being_read() {
    let fake = FakeWorker::start(|connection| async move {
        let Some(mut session) = Session::welcomed(connection).await else {
            return;
        };
        while let Some(message) = session.next().await {
            if let ClientMessage::Request { id, .. } = message {
                // Reply { id, Value(40 MB) }: the id, variant 1, the value's length.
                let mut prefix = postcard::to_allocvec(&id).unwrap();
                prefix.push(1);
                prefix.extend(postcard::to_allocvec(&u64::from(HUGE - 16)).unwrap());
                session.huge_frame(HUGE, &prefix).await;
                break;
            }
        }
        session.hold().await;
    });
    let mut config = fake.connect_config();
    config.request_timeout = None;
    let client = within(Client::connect([fake.addr], config)).await.unwrap();
    let _alone = MEMORY.lock().await;
    let before = rss();
    let out = gathered(&client, vec![1]).await;
    let grown = rss().saturating_sub(before);
    all_lost(&out);
    within(fake.given_up()).await;
    assert!(
        grown < 100 << 20,
        "client memory grew by {} MiB",
        grown >> 20
    );
}

/// Connecting to a fake that misbehaves during the handshake fails within the connect
/// timeout, typed.
async fn connect_times_out(fake: &FakeWorker) {
    let mut config = fake.connect_config();
    config.connect_timeout = Duration::from_millis(500);
    let connected = within(Client::connect([fake.addr], config)).await;
    assert!(
        matches!(
            connected,
            Err(ClientError::HandshakeTimeout { .. } | ClientError::Connect { .. })
        ),
        "{connected:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_never_answers_the_hello_times_out_connect() {
    // It reads the hello and says nothing.
    let fake = FakeWorker::start(|connection| async move {
        if let Some(session) = Session::accept(connection).await {
            session.hold().await;
        }
    });
    connect_times_out(&fake).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_grants_no_stream_times_out_connect() {
    // The client's own transport settings let the peer open no stream at all: as a server's,
    // they leave the client's `open_bi` waiting for ever.
    let no_streams = TransportSettings::default().transport_config().unwrap();
    let fake = FakeWorker::start_with(Some(no_streams), |connection| async move {
        connection.closed().await;
    });
    connect_times_out(&fake).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_never_finishes_the_quic_handshake_times_out_connect() {
    // A UDP socket that takes packets and never answers.
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let sink = tokio::spawn(async move {
        let mut buf = vec![0; 2048];
        while socket.recv_from(&mut buf).await.is_ok() {}
    });
    let fake = FakeWorker::start(|_| async {});
    let mut config = fake.connect_config();
    config.connect_timeout = Duration::from_millis(500);
    let connected = within(Client::connect([addr], config)).await;
    assert!(
        matches!(connected, Err(ClientError::HandshakeTimeout { .. })),
        "{connected:?}"
    );
    sink.abort();
}

/// What the fake of `a_fetched_value_with_trailing_bytes_is_a_codec_error` answers to a task: it
/// keeps the input as the output (`same`) and answers without the value, so it is fetched.
fn answer_task(values: &mut std::collections::HashMap<Key, Bytes>, id: u64, task: Task) -> Reply {
    let input = values.get(&task.inputs[0]).cloned().unwrap_or_default();
    let size = input.len() as u64;
    values.insert(task.outputs[0], input);
    Reply {
        id,
        response: Response::Done {
            sizes: vec![size],
            verdict: None,
            values: vec![None],
        },
    }
}
