//! The three ways to run a worker, and who gets served: child processes, a standalone worker
//! with certificate files, secrets and client certificates, refusals and hostile bytes.
//! Real QUIC, real time (no paused clock).
#![cfg(feature = "remote")]

mod support;

use std::net::SocketAddr;

use bytes::BytesMut;
use rivulet::Client;
use rivulet::prelude::*;
use rivulet::remote::proto::{self, FunctionId, Hello, HelloReply, Refusal};
use rivulet::remote::transport::{self, Identity, TransportSettings, Trust};
use rivulet::remote::{ClientAuth, ClientError, ConnectConfig};
use rivulet::worker::{Worker, WorkerAuth, WorkerConfig};
use support::certs::{TempDir, issue, make_ca, make_ca_pem};
use support::within;

#[rivulet::remote]
fn triple(x: i64) -> i64 {
    3 * x
}

#[rivulet::remote]
fn pid(_x: i64) -> u32 {
    std::process::id()
}

async fn triples(client: &Client, n: i64) -> Vec<i64> {
    within(
        futures::stream::iter(0..n)
            .scatter(client)
            .map(triple)
            .buffered(8)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await
    .into_iter()
    .map(|r| r.expect("task ran"))
    .collect()
}

/// Not a test of its own: the entry point of the child-process workers started below. In a
/// normal run (no worker environment) it returns at once.
#[test]
fn worker_process_entry() {
    rivulet::worker::run_if_worker();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process_workers_run_tasks_in_other_processes() {
    let client = Client::builder()
        .workers(2)
        .slots(1)
        .processes(true)
        .worker_args(["--exact", "worker_process_entry", "--nocapture"])
        .build()
        .await
        .expect("child workers start");
    assert_eq!(client.workers().len(), 2);
    assert_eq!(
        triples(&client, 10).await,
        (0..10).map(|x| 3 * x).collect::<Vec<_>>()
    );
    let pids: std::collections::HashSet<u32> = within(
        futures::stream::iter(0..8)
            .scatter(&client)
            .map(pid)
            .buffered(4)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await
    .into_iter()
    .map(|r| r.expect("task ran"))
    .collect();
    assert!(
        !pids.contains(&std::process::id()),
        "tasks ran in the test process"
    );
    assert_eq!(pids.len(), 2, "both worker processes ran tasks: {pids:?}");
}

fn standalone(identity: Identity, auth: WorkerAuth) -> Worker {
    Worker::spawn(WorkerConfig::new(identity, auth).slots(2)).expect("worker starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_worker_with_certificate_files_and_a_secret() {
    let dir = TempDir::new("standalone");
    let (_, ca_pem, issuer) = make_ca_pem();
    let (_, cert_pem, key_pem) = issue(&issuer, &["localhost"]);
    let ca = dir.write("ca.pem", &ca_pem);
    let cert = dir.write("worker.pem", &cert_pem);
    let key = dir.write("worker.key.pem", &key_pem);

    let identity = Identity::from_pem_files(&cert, &key).expect("PEM files load");
    let worker = standalone(identity, WorkerAuth::Secret(b"open sesame".to_vec()));
    let config = ConnectConfig::new(
        Trust::ca_from_pem_file(&ca).expect("CA loads"),
        ClientAuth::Secret(b"open sesame".to_vec()),
    );
    let client = Client::connect([worker.local_addr()], config)
        .await
        .expect("connects");
    assert_eq!(triples(&client, 5).await, vec![0, 3, 6, 9, 12]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_is_refused_and_others_are_still_served() {
    let identity = Identity::self_signed(vec!["localhost".to_owned()]).unwrap();
    let trust = identity.trust_pinned();
    let worker = standalone(identity, WorkerAuth::Secret(b"right".to_vec()));
    let good = Client::connect(
        [worker.local_addr()],
        ConnectConfig::new(trust.clone(), ClientAuth::Secret(b"right".to_vec())),
    )
    .await
    .expect("the right secret connects");
    let refused = Client::connect(
        [worker.local_addr()],
        ConnectConfig::new(trust.clone(), ClientAuth::Secret(b"wrong".to_vec())),
    )
    .await;
    match refused {
        Err(ClientError::Refused {
            refusal: Refusal::Unauthenticated,
            ..
        }) => {}
        other => panic!("expected an authentication refusal, got {other:?}"),
    }
    let message = Client::connect(
        [worker.local_addr()],
        ConnectConfig::new(trust, ClientAuth::Secret(b"wrong".to_vec())),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(message.contains("wrong secret"), "{message}");
    assert_eq!(triples(&good, 4).await, vec![0, 3, 6, 9]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_instead_of_a_secret() {
    let (ca, issuer) = make_ca();
    let (worker_identity, _, _) = issue(&issuer, &["localhost"]);
    let (client_identity, _, _) = issue(&issuer, &["client"]);
    let worker = standalone(
        worker_identity,
        WorkerAuth::ClientCertificates(Trust::Ca(vec![ca.clone()])),
    );
    let client = Client::connect(
        [worker.local_addr()],
        ConnectConfig::new(
            Trust::Ca(vec![ca.clone()]),
            ClientAuth::Certificate(client_identity),
        ),
    )
    .await
    .expect("a CA-signed client connects");
    assert_eq!(triples(&client, 3).await, vec![0, 3, 6]);

    let (stranger_ca, stranger_issuer) = make_ca();
    drop(stranger_ca);
    let (stranger, _, _) = issue(&stranger_issuer, &["client"]);
    let refused = Client::connect(
        [worker.local_addr()],
        ConnectConfig::new(Trust::Ca(vec![ca]), ClientAuth::Certificate(stranger)),
    )
    .await;
    assert!(
        refused.is_err(),
        "a client with another CA's certificate got in"
    );
}

/// A raw QUIC connection to a worker, speaking the protocol by hand.
async fn raw_connection(worker: &Worker, trust: &Trust) -> quinn::Connection {
    let config = transport::client_config(trust, None, &TransportSettings::default()).unwrap();
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    endpoint.set_default_client_config(config);
    endpoint
        .connect(worker.local_addr(), "localhost")
        .unwrap()
        .await
        .expect("TLS handshake")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_built_from_other_code_names_what_is_missing() {
    let identity = Identity::self_signed(vec!["localhost".to_owned()]).unwrap();
    let trust = identity.trust_pinned();
    let secret = b"s".to_vec();
    let worker = standalone(identity, WorkerAuth::Secret(secret.clone()));
    let connection = raw_connection(&worker, &trust).await;
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    let mut functions = rivulet::remote::registry::functions();
    functions.push(FunctionId {
        name: "elsewhere::only_in_the_client".into(),
        signature: "i64 -> i64".into(),
    });
    let hello = Hello {
        version: proto::PROTOCOL_VERSION,
        proof: Some(rivulet::remote::transport::proof(&connection, &secret).unwrap()),
        functions,
    };
    rivulet::remote::transport::write_message(&mut send, &hello, 1 << 20)
        .await
        .unwrap();
    let mut reader = rivulet::remote::transport::FrameReader::new(1 << 20);
    let reply: Option<HelloReply> = within(rivulet::remote::transport::read_message(
        &mut recv,
        &mut reader,
    ))
    .await
    .unwrap();
    match reply {
        Some(HelloReply::Refused(Refusal::MissingFunctions(missing))) => {
            assert_eq!(missing.len(), 1);
            assert_eq!(missing[0].name, "elsewhere::only_in_the_client");
        }
        other => panic!("expected a refusal naming the function, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_closes_that_connection_only() {
    let identity = Identity::self_signed(vec!["localhost".to_owned()]).unwrap();
    let trust = identity.trust_pinned();
    let worker = standalone(identity, WorkerAuth::Secret(b"k".to_vec()));
    let good = Client::connect(
        [worker.local_addr()],
        ConnectConfig::new(trust.clone(), ClientAuth::Secret(b"k".to_vec())),
    )
    .await
    .unwrap();

    // Random bytes, an oversized length prefix, and a truncated frame, each on its own connection.
    let mut oversized = BytesMut::new();
    oversized.extend_from_slice(&u32::MAX.to_be_bytes());
    oversized.extend_from_slice(&[0; 16]);
    let truncated = [0u8, 0, 0, 200, 1, 2, 3];
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for bytes in [garbage.as_slice(), &oversized[..], &truncated[..]] {
        let connection = raw_connection(&worker, &trust).await;
        let (mut send, _recv) = connection.open_bi().await.unwrap();
        send.write_all(bytes).await.unwrap();
        send.finish().unwrap();
        let reason = within(connection.closed()).await;
        assert!(
            matches!(reason, quinn::ConnectionError::ApplicationClosed(_)),
            "the worker should close the connection, got {reason:?}"
        );
    }
    // A client that opens a stream and never writes is dropped after the hello timeout; the
    // good client sees nothing of all this.
    assert_eq!(triples(&good, 6).await, vec![0, 3, 6, 9, 12, 15]);
}
