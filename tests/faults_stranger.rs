//! Strangers (no secret) get next to nothing from a worker, over real QUIC: no second stream,
//! no oversized hello, no decoding of a function list before the proof, no more connections
//! than the worker admits, and no more time than its hello timeout; a legitimate client on the
//! same worker is served meanwhile.
#![cfg(feature = "remote")]

mod support;

use std::time::Duration;

use rivulet::Client;
use rivulet::prelude::*;
use rivulet::remote::proto::{FunctionId, HelloReply, MAX_HELLO, Refusal};
use rivulet::remote::transport::{Identity, Trust};
use rivulet::remote::{ClientAuth, ClientError, ConnectConfig};
use rivulet::worker::{Admission, Worker, WorkerAuth, WorkerConfig, WorkerTimeouts};
use support::raw_client::{self, closed_by_worker};
use support::within;

#[rivulet::remote]
fn negate(x: i64) -> i64 {
    -x
}

const SECRET: &[u8] = b"strangers know no secret";

/// How long a stream or connection that should never open is given.
const NEVER: Duration = Duration::from_millis(500);

fn worker_with(configure: impl FnOnce(WorkerConfig) -> WorkerConfig) -> (Worker, Trust) {
    let identity = Identity::self_signed(vec!["localhost".to_owned()]).unwrap();
    let trust = identity.trust_pinned();
    let config = WorkerConfig::new(identity, WorkerAuth::Secret(SECRET.to_vec())).slots(2);
    (Worker::spawn(configure(config)).unwrap(), trust)
}

async fn legit_client(worker: &Worker, trust: &Trust) -> Result<Client, ClientError> {
    Client::connect(
        [worker.local_addr()],
        ConnectConfig::new(trust.clone(), ClientAuth::Secret(SECRET.to_vec())),
    )
    .await
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_stream_never_opens() {
    let (worker, trust) = worker_with(|c| c);
    let legit = legit_client(&worker, &trust).await.unwrap();
    let endpoint = raw_client::endpoint(&trust);
    let stranger = raw_client::connect(&endpoint, worker.local_addr())
        .await
        .unwrap();
    // The one stream a client may open opens at once...
    let (_send, _recv) = within(stranger.open_bi()).await.unwrap();
    // ... a second one, or any unidirectional one, never does: the worker grants no credit.
    let second = tokio::time::timeout(NEVER, stranger.open_bi()).await;
    assert!(second.is_err(), "a second stream opened: {second:?}");
    let uni = tokio::time::timeout(NEVER, stranger.open_uni()).await;
    assert!(uni.is_err(), "a unidirectional stream opened: {uni:?}");
    still_served(&legit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_hello_closes_the_connection_before_its_body_comes() {
    // A long hello timeout, so that only the frame limit can close the connection early.
    let (worker, trust) = worker_with(|c| WorkerConfig {
        timeouts: WorkerTimeouts {
            hello: Duration::from_secs(60),
            ..WorkerTimeouts::default()
        },
        ..c
    });
    let legit = legit_client(&worker, &trust).await.unwrap();
    let endpoint = raw_client::endpoint(&trust);
    let stranger = raw_client::connect(&endpoint, worker.local_addr())
        .await
        .unwrap();
    let (mut send, _recv) = stranger.open_bi().await.unwrap();
    // The header of a hello one byte over the limit, and a few bytes of body: the rest never
    // comes, so a worker that waited for (or buffered) the body would never close.
    let len = u32::try_from(MAX_HELLO + 1).unwrap();
    send.write_all(&len.to_be_bytes()).await.unwrap();
    send.write_all(&[0; 16]).await.unwrap();
    let reason = closed_by_worker(&stranger, Duration::from_secs(10)).await;
    assert!(
        reason.contains("frame") && reason.contains("exceeds"),
        "{reason}"
    );
    assert!(reason.contains(&MAX_HELLO.to_string()), "{reason}");
    still_served(&legit).await;
}

/// 100,000 functions with empty names: a hello of about 200 KB, under [`MAX_HELLO`].
fn many_functions() -> Vec<FunctionId> {
    vec![
        FunctionId {
            name: String::new(),
            signature: String::new(),
        };
        100_000
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_s_function_list_is_not_looked_at() {
    let (worker, trust) = worker_with(|c| c);
    let endpoint = raw_client::endpoint(&trust);
    let stranger = raw_client::connect(&endpoint, worker.local_addr())
        .await
        .unwrap();
    let (_send, _recv, reply) = within(raw_client::hello(&stranger, None, many_functions())).await;
    assert_eq!(reply, Some(HelloReply::Refused(Refusal::Unauthenticated)));

    // The same hello with a proof: the list is looked at, and every function is missing. So
    // the refusal above came before the list, not for want of the functions.
    let client = raw_client::connect(&endpoint, worker.local_addr())
        .await
        .unwrap();
    let (_send, _recv, reply) =
        within(raw_client::hello(&client, Some(SECRET), many_functions())).await;
    match reply {
        Some(HelloReply::Refused(Refusal::MissingFunctions(missing))) => {
            assert_eq!(missing.len(), 100_000);
        }
        other => panic!("expected MissingFunctions, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_admission_cap_are_refused_until_some_close() {
    let (worker, trust) = worker_with(|c| WorkerConfig {
        admission: Admission {
            max_connections: 4,
            ..Admission::default()
        },
        // Silent strangers stay for the whole test unless they leave.
        timeouts: WorkerTimeouts {
            hello: Duration::from_secs(60),
            ..WorkerTimeouts::default()
        },
        ..c
    });
    let legit = legit_client(&worker, &trust).await.unwrap();
    let endpoint = raw_client::endpoint(&trust);
    let mut strangers = Vec::new();
    for _ in 0..3 {
        let connection = within(raw_client::connect(&endpoint, worker.local_addr()))
            .await
            .expect("under the cap");
        strangers.push(connection);
    }
    // Four connections: the fifth is refused, by QUIC, before any TLS work.
    let fifth = within(raw_client::connect(&endpoint, worker.local_addr())).await;
    assert!(
        matches!(fifth, Err(quinn::ConnectionError::ConnectionClosed(_))),
        "{fifth:?}"
    );
    let refused = within(legit_client(&worker, &trust)).await;
    assert!(
        matches!(refused, Err(ClientError::Connect { .. })),
        "{refused:?}"
    );
    // The client already in is served.
    still_served(&legit).await;

    // Two strangers leave: new connections are taken again.
    for stranger in strangers.drain(..2) {
        stranger.close(0u32.into(), b"bye");
    }
    let again = within(async {
        loop {
            match legit_client(&worker, &trust).await {
                Ok(client) => break client,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await;
    still_served(&again).await;
    let another = within(raw_client::connect(&endpoint, worker.local_addr())).await;
    assert!(another.is_ok(), "{another:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_stranger_is_closed_after_the_hello_timeout() {
    let (worker, trust) = worker_with(|c| WorkerConfig {
        timeouts: WorkerTimeouts {
            hello: Duration::from_millis(300),
            ..WorkerTimeouts::default()
        },
        ..c
    });
    let legit = legit_client(&worker, &trust).await.unwrap();
    let endpoint = raw_client::endpoint(&trust);
    // Well under the default hello timeout (5 s): the setting is what closes them.
    let guard = Duration::from_secs(3);

    // A stream opened and never written to (the worker never even sees it).
    let silent = raw_client::connect(&endpoint, worker.local_addr())
        .await
        .unwrap();
    let (_send, _recv) = silent.open_bi().await.unwrap();
    let reason = closed_by_worker(&silent, guard).await;
    assert!(reason.contains("in time"), "{reason}");

    // A stream with the first bytes of a hello, and then nothing.
    let stalled = raw_client::connect(&endpoint, worker.local_addr())
        .await
        .unwrap();
    let (mut send, _recv) = stalled.open_bi().await.unwrap();
    send.write_all(&[0, 0, 1, 0, 2]).await.unwrap();
    let reason = closed_by_worker(&stalled, guard).await;
    assert!(reason.contains("no hello in time"), "{reason}");

    // The client that did say hello in time stays, idle or not.
    tokio::time::sleep(Duration::from_millis(600)).await;
    still_served(&legit).await;
}

/// A UDP relay to `target` that passes every datagram toward it and drops every answer: the
/// peers behind it never hear back, as with spoofed source addresses.
async fn black_hole(
    target: std::net::SocketAddr,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let relay = tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            if from != target {
                let _ = socket.send_to(&buf[..n], target).await;
            }
        }
    });
    (addr, relay)
}

/// Handshakes that never finish take the worker's `max_handshakes` slots as fast as they free
/// up; a client that has proven its address (it answered the retry) is then refused, like the
/// flood, so no new client gets in while the flood lasts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_client_connects_during_a_handshake_flood() {
    let (worker, trust) = worker_with(|c| c);
    let (hole, relay) = black_hole(worker.local_addr()).await;
    // Handshakes that never finish: their answers go nowhere. 300 a second for 3 s.
    let flooding = raw_client::endpoint(&trust);
    let attacker = flooding.clone();
    let flood = tokio::spawn(async move {
        for _ in 0..30 {
            for _ in 0..30 {
                if let Ok(connecting) = attacker.connect(hole, "localhost") {
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(Duration::from_secs(5), connecting).await;
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A legitimate client answers the worker's retry, so it has proven its address.
    let mut config = ConnectConfig::new(trust.clone(), ClientAuth::Secret(SECRET.to_vec()));
    config.connect_timeout = Duration::from_secs(2);
    let connected = within(Client::connect([worker.local_addr()], config)).await;
    flood.abort();
    relay.abort();
    let client = connected.expect("a client that proved its address is let in during the flood");
    still_served(&client).await;
}
