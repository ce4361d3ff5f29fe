//! Hostile peers get nothing and hurt no one: a valid frame naming an unknown function or key,
//! and a client that opens a stream and never writes, each lose their own connection while a
//! good client on the same worker sees no error. (Garbage bytes, truncated frames and oversized
//! length prefixes: tests/remote_workers.rs; a wrong ALPN: tests/remote_tls.rs.)
#![cfg(feature = "remote")]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rivulet::Client;
use rivulet::prelude::*;
use rivulet::remote::proto::{
    ClientMessage, Hello, HelloReply, Key, PROTOCOL_VERSION, Request, Task, TaskKind,
};
use rivulet::remote::transport::{self, Identity, TransportSettings, Trust};
use rivulet::remote::transport::{FrameReader, read_message, write_message};
use rivulet::remote::{ClientAuth, ConnectConfig};
use rivulet::worker::{Worker, WorkerAuth, WorkerConfig};

#[rivulet::remote]
fn negate(x: i64) -> i64 {
    -x
}

const SECRET: &[u8] = b"hostile";
const MAX: usize = 1 << 20;

fn worker() -> (Worker, Trust) {
    let identity = Identity::self_signed(vec!["localhost".to_owned()]).unwrap();
    let trust = identity.trust_pinned();
    let worker =
        Worker::spawn(WorkerConfig::new(identity, WorkerAuth::Secret(SECRET.to_vec())).slots(2))
            .unwrap();
    (worker, trust)
}

async fn good_client(worker: &Worker, trust: &Trust) -> Client {
    Client::connect(
        [worker.local_addr()],
        ConnectConfig::new(trust.clone(), ClientAuth::Secret(SECRET.to_vec())),
    )
    .await
    .unwrap()
}

async fn still_served(client: &Client) {
    let out: Vec<_> = futures::stream::iter(1..4)
        .scatter(client)
        .map(negate)
        .gather()
        .collect()
        .await;
    assert_eq!(out, vec![Ok(-1), Ok(-2), Ok(-3)]);
}

/// A welcomed raw connection, speaking the protocol by hand.
async fn welcomed(worker: &Worker, trust: &Trust) -> (quinn::Connection, quinn::SendStream) {
    let config = transport::client_config(trust, None, &TransportSettings::default()).unwrap();
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    endpoint.set_default_client_config(config);
    let connection = endpoint
        .connect(worker.local_addr(), "localhost")
        .unwrap()
        .await
        .unwrap();
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    let hello = Hello {
        version: PROTOCOL_VERSION,
        proof: Some(rivulet::remote::transport::proof(&connection, SECRET).unwrap()),
        functions: rivulet::remote::registry::functions(),
    };
    write_message(&mut send, &hello, MAX).await.unwrap();
    let reply: Option<HelloReply> = read_message(&mut recv, &mut FrameReader::new(MAX))
        .await
        .unwrap();
    assert!(
        matches!(reply, Some(HelloReply::Welcome { .. })),
        "{reply:?}"
    );
    (connection, send)
}

async fn closed_by_worker(connection: &quinn::Connection) -> String {
    match tokio::time::timeout(Duration::from_secs(10), connection.closed()).await {
        Ok(quinn::ConnectionError::ApplicationClosed(close)) => {
            String::from_utf8_lossy(&close.reason).into_owned()
        }
        other => panic!("the worker should close the connection, got {other:?}"),
    }
}

fn submit(function: &str, input: Key, output: Key) -> ClientMessage {
    ClientMessage::Request {
        id: 1,
        request: Request::Submit(Task {
            kind: TaskKind::Map,
            function: function.to_owned(),
            params: Bytes::new(),
            inputs: vec![input],
            outputs: vec![output],
            reply_with_value: true,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_function_closes_that_connection_only() {
    let (worker, trust) = worker();
    let good = good_client(&worker, &trust).await;
    let (connection, mut send) = welcomed(&worker, &trust).await;
    let scatter = ClientMessage::Scatter {
        key: Key(1),
        value: Bytes::from(postcard::to_allocvec(&5_i64).unwrap()),
    };
    write_message(&mut send, &scatter, MAX).await.unwrap();
    write_message(
        &mut send,
        &submit("no::such::function", Key(1), Key(2)),
        MAX,
    )
    .await
    .unwrap();
    let reason = closed_by_worker(&connection).await;
    assert!(reason.contains("unknown function"), "{reason}");
    still_served(&good).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_key_closes_that_connection_only() {
    let (worker, trust) = worker();
    let good = good_client(&worker, &trust).await;
    let (connection, mut send) = welcomed(&worker, &trust).await;
    let name = rivulet::remote::registry::functions()
        .into_iter()
        .find(|f| f.name.ends_with("negate"))
        .expect("negate is registered")
        .name;
    write_message(&mut send, &submit(&name, Key(404), Key(405)), MAX)
        .await
        .unwrap();
    let reason = closed_by_worker(&connection).await;
    assert!(reason.contains("unknown key"), "{reason}");
    let fetch = ClientMessage::Request {
        id: 2,
        request: Request::Fetch { key: Key(7) },
    };
    let (connection, mut send) = welcomed(&worker, &trust).await;
    write_message(&mut send, &fetch, MAX).await.unwrap();
    assert!(closed_by_worker(&connection).await.contains("unknown key"));
    still_served(&good).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_writes_is_dropped() {
    let (worker, trust) = worker();
    let good = good_client(&worker, &trust).await;
    let config = transport::client_config(&trust, None, &TransportSettings::default()).unwrap();
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    endpoint.set_default_client_config(config);
    let silent = endpoint
        .connect(worker.local_addr(), "localhost")
        .unwrap()
        .await
        .unwrap();
    // Opened but never written to: the worker never even sees the stream, and gives up on
    // the connection after its hello timeout.
    let (_send, _recv) = silent.open_bi().await.unwrap();
    let reason = closed_by_worker(&silent).await;
    assert!(reason.contains("in time"), "{reason}");
    still_served(&good).await;
}
