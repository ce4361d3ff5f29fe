//! Worker-to-worker transfer on real workers over real QUIC: a value a task needs on another
//! worker goes there directly, never through the client; a peer without the client's
//! capability gets nothing; a worker lost while values move loses no item.
#![cfg(feature = "remote")]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use rivulet::prelude::*;
use rivulet::remote::obs::WorkerStats;
use rivulet::remote::proto::{
    ClientMessage, Key, PROTOCOL_VERSION, PeerAnswer, PeerRequest, Token,
};
use rivulet::remote::transport::{
    FrameReader, Identity, TransportSettings, Trust, peer_client_config, read_message,
    write_message,
};
use rivulet::remote::{ClientAuth, ConnectConfig};
use rivulet::worker::{Worker, WorkerAuth, WorkerConfig};
use rivulet::{Client, TaskError};
use support::raw_client::{self, Welcomed};
use support::within;

const SECRET: &[u8] = b"transfer";

/// Over the 64 KiB inline limit: such a value never comes back with its task's reply, so
/// moving it means fetching it, or pulling it worker to worker.
const SIZE: usize = 200 << 10;

#[rivulet::remote]
fn blob(seed: u32) -> Vec<u8> {
    vec![(seed % 251) as u8; SIZE]
}

#[rivulet::remote]
fn pair_sum(pair: (Vec<u8>, Vec<u8>)) -> u64 {
    pair.0.iter().chain(&pair.1).map(|&b| u64::from(b)).sum()
}

/// Keeps the last blob as the state, and says what the two summed to.
#[rivulet::remote]
fn follow(state: Vec<u8>, x: Vec<u8>) -> (Vec<u8>, u64) {
    let sum = state.iter().chain(&x).map(|&b| u64::from(b)).sum();
    (x, sum)
}

fn expected_pair(a: u32, b: u32) -> u64 {
    SIZE as u64 * (u64::from(a % 251) + u64::from(b % 251))
}

fn workers(n: usize) -> (Vec<Worker>, Vec<SocketAddr>, Trust) {
    let (workers, trust) = support::workers::in_process(n, 2, SECRET);
    let addrs = workers.iter().map(Worker::local_addr).collect();
    (workers, addrs, trust)
}

async fn connect(addrs: Vec<SocketAddr>, trust: Trust, peer_transfer: bool) -> Client {
    let mut config = ConnectConfig::new(trust, ClientAuth::Secret(SECRET.to_vec()));
    config.peer_transfer = peer_transfer;
    Client::connect(addrs, config).await.expect("connects")
}

/// Zips two streams of blobs made on workers and sums each pair there.
async fn zipped_sums(client: &Client, pairs: u32) -> Vec<Result<u64, TaskError>> {
    let left = futures::stream::iter(0..pairs).scatter(client).map(blob);
    let right = futures::stream::iter(1000..1000 + pairs)
        .scatter(client)
        .map(blob);
    within(
        left.zip(right)
            .map(pair_sum)
            .buffered(8)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_across_workers_moves_no_byte_through_the_client() {
    let (_workers, addrs, trust) = workers(2);
    let client = connect(addrs, trust, true).await;
    let pulled_before = WorkerStats::global().peer_bytes_pulled();
    let served_before = WorkerStats::global().peer_bytes_served();

    let sums = zipped_sums(&client, 20).await;
    let expected: Vec<_> = (0..20).map(|i| Ok(expected_pair(i, 1000 + i))).collect();
    assert_eq!(sums, expected);

    let metrics = client.metrics();
    assert_eq!(metrics.bytes_moved_through_client(), 0);
    let between = metrics.bytes_moved_between_workers();
    assert!(
        between >= SIZE as u64,
        "no pair was split over the two workers? {between} bytes moved"
    );
    // The workers' own counters saw those bytes go out of one and into the other (other
    // tests of this binary may add to them: at least).
    assert!(WorkerStats::global().peer_bytes_pulled() - pulled_before >= between);
    assert!(WorkerStats::global().peer_bytes_served() - served_before >= between);
    assert!(metrics.prometheus().contains(&format!(
        "rivulet_moved_bytes_total{{via=\"workers\"}} {between}"
    )));
    client.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_peer_transfer_the_same_bytes_come_through_the_client() {
    let (_workers, addrs, trust) = workers(2);
    let client = connect(addrs, trust, false).await;
    let sums = zipped_sums(&client, 20).await;
    let expected: Vec<_> = (0..20).map(|i| Ok(expected_pair(i, 1000 + i))).collect();
    assert_eq!(sums, expected);
    let metrics = client.metrics();
    assert_eq!(metrics.bytes_moved_between_workers(), 0);
    assert!(metrics.bytes_moved_through_client() >= SIZE as u64);
    client.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accumulate_across_workers_moves_no_byte_through_the_client() {
    let (_workers, addrs, trust) = workers(2);
    let client = connect(addrs, trust, true).await;
    let out: Vec<_> = within(
        futures::stream::iter(1..=12_u32)
            .scatter(&client)
            .map(blob)
            .buffered(4)
            .accumulate(vec![0_u8; SIZE], follow)
            .gather()
            .collect(),
    )
    .await;
    let expected: Vec<_> = (1..=12_u32)
        .map(|i| Ok(SIZE as u64 * u64::from((i - 1) % 251 + i % 251)))
        .collect();
    assert_eq!(out, expected);
    assert_eq!(client.metrics().bytes_moved_through_client(), 0);
    assert!(client.metrics().bytes_moved_between_workers() >= SIZE as u64);
    client.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_lost_while_values_move_loses_no_pair() {
    let (mut workers, addrs, trust) = workers(3);
    let client = connect(addrs, trust, true).await;
    let pairs = 150_u32;
    let left = futures::stream::iter(0..pairs).scatter(&client).map(blob);
    let right = futures::stream::iter(1000..1000 + pairs)
        .scatter(&client)
        .map(blob);
    let mut sums = left.zip(right).map(pair_sum).buffered(8).gather();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut doomed = Some(workers.remove(1));
    for i in 0..pairs {
        let sum = tokio::time::timeout_at(deadline.into(), sums.next())
            .await
            .expect("the stream goes on")
            .expect("every pair comes out");
        assert_eq!(sum, Ok(expected_pair(i, 1000 + i)), "pair {i}");
        if i == 20 {
            if let Some(worker) = doomed.take() {
                worker.shutdown().await;
            }
        }
    }
    assert!(sums.next().await.is_none());
    assert!(client.metrics().bytes_moved_between_workers() >= SIZE as u64);
    client.close();
}

/// A peer connection to `addr`, believing the worker's certificate `cert`.
async fn peer_connection(addr: SocketAddr, cert: &[u8]) -> (quinn::Endpoint, quinn::Connection) {
    let config = peer_client_config(cert, &TransportSettings::default()).unwrap();
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    endpoint.set_default_client_config(config);
    let connection = endpoint
        .connect(addr, "localhost")
        .unwrap()
        .await
        .expect("TLS with the pinned worker");
    (endpoint, connection)
}

async fn ask(connection: &quinn::Connection, token: Token) -> (Option<PeerAnswer>, Vec<u8>) {
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    let request = PeerRequest {
        version: PROTOCOL_VERSION,
        token,
    };
    write_message(&mut send, &request, 1024).await.unwrap();
    send.finish().unwrap();
    let answer = read_message::<PeerAnswer>(&mut recv, &mut FrameReader::new(1 << 16))
        .await
        .unwrap();
    let rest = recv.read_to_end(1 << 20).await.unwrap_or_default();
    (answer, rest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_gets_a_value_only_with_the_clients_token_and_only_once() {
    let identity = Identity::self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = identity.certs[0].to_vec();
    let trust = Trust::Pinned(identity.certs.clone());
    let worker =
        Worker::spawn(WorkerConfig::new(identity, WorkerAuth::Secret(SECRET.to_vec())).slots(1))
            .unwrap();
    let addr = worker.local_addr();
    let mut client = Welcomed::new(addr, &trust, SECRET).await;
    let token = Token([42; 32]);
    client
        .send(&raw_client::scatter(1, Bytes::from_static(b"secret value")))
        .await;
    client
        .send(&ClientMessage::Grant { key: Key(1), token })
        .await;

    let (_endpoint, peer) = peer_connection(addr, &cert).await;
    // A guess gets nothing (after the worker waited a while for the grant).
    let (answer, rest) = within(ask(&peer, Token([41; 32]))).await;
    assert!(matches!(answer, Some(PeerAnswer::Refused(_))), "{answer:?}");
    assert!(rest.is_empty());
    // The client's token gets the value, once.
    let (answer, rest) = within(ask(&peer, token)).await;
    assert_eq!(answer, Some(PeerAnswer::Value { total: 12 }));
    assert_eq!(rest, b"secret value");
    let (answer, _) = within(ask(&peer, token)).await;
    assert!(matches!(answer, Some(PeerAnswer::Refused(_))), "{answer:?}");

    // A grant ends when its value is released.
    let other = Token([43; 32]);
    client
        .send(&ClientMessage::Grant {
            key: Key(1),
            token: other,
        })
        .await;
    client.send(&ClientMessage::Release(vec![Key(1)])).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (answer, _) = within(ask(&peer, other)).await;
    assert!(matches!(answer, Some(PeerAnswer::Refused(_))), "{answer:?}");
    drop(client);
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_takes_clients_by_certificate_serves_no_peers() {
    let (ca, issuer) = support::certs::make_ca();
    let identity = Identity::self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = identity.certs[0].to_vec();
    let _ = issuer;
    let worker = Worker::spawn(
        WorkerConfig::new(
            identity,
            WorkerAuth::ClientCertificates(Trust::Ca(vec![ca])),
        )
        .slots(1),
    )
    .unwrap();
    let config = peer_client_config(&cert, &TransportSettings::default()).unwrap();
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    endpoint.set_default_client_config(config);
    let connected = within(endpoint.connect(worker.local_addr(), "localhost").unwrap()).await;
    assert!(connected.is_err(), "a peer without a certificate got in");
    worker.shutdown().await;
}
