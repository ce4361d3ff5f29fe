//! Real QUIC connections on 127.0.0.1: certificates, pinning, CAs, mutual TLS, secret proofs,
//! PEM files and transport timeouts.
#![cfg(feature = "remote")]

#[path = "support/relay.rs"]
mod relay;
mod support;

use relay::Relay;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rivulet::remote::proto::{ALPN, Hello, HelloReply, PROTOCOL_VERSION};
use rivulet::remote::proto::{DEFAULT_MAX_FRAME, FrameError};
use rivulet::remote::transport::{self, AuthError};
use rivulet::remote::transport::{FrameReader, StreamError, read_message, write_message};
use rivulet::remote::transport::{
    Identity, SERVER_NAME, TlsError, TransportSettings, Trust, client_config, server_config,
};
use rustls::pki_types::CertificateDer;
use support::certs::{TempDir, issue, make_ca, make_ca_pem};
use tokio::time::timeout;

/// A guard against a test hanging on a connection that never completes.
const GUARD: Duration = Duration::from_secs(10);

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Settings that give a lost connection up within about a second (keep-alive 200 ms, idle
/// timeout 1 s), for the test that measures it.
fn quick_loss() -> TransportSettings {
    TransportSettings {
        keep_alive: Duration::from_millis(200),
        idle_timeout: Duration::from_secs(1),
        ..TransportSettings::default()
    }
}

fn worker(identity: &Identity, client_auth: Option<&Trust>) -> quinn::Endpoint {
    let config = server_config(identity, client_auth, &quick_loss()).unwrap();
    quinn::Endpoint::server(config, any_port()).unwrap()
}

fn client(trust: &Trust, identity: Option<&Identity>) -> quinn::Endpoint {
    let mut endpoint = quinn::Endpoint::client(any_port()).unwrap();
    endpoint.set_default_client_config(client_config(trust, identity, &quick_loss()).unwrap());
    endpoint
}

/// Connects `client` to `server` at `addr` and accepts on the server at the same time.
async fn handshake(
    client: &quinn::Endpoint,
    server: &quinn::Endpoint,
    addr: SocketAddr,
) -> (
    Result<quinn::Connection, quinn::ConnectionError>,
    Result<quinn::Connection, quinn::ConnectionError>,
) {
    let connect = async { client.connect(addr, SERVER_NAME).unwrap().await };
    let accept = async { server.accept().await.expect("endpoint open").await };
    timeout(GUARD, async { tokio::join!(connect, accept) })
        .await
        .expect("handshake hung")
}

/// Connects and expects both sides to succeed.
async fn connected(
    client: &quinn::Endpoint,
    server: &quinn::Endpoint,
) -> (quinn::Connection, quinn::Connection) {
    let (c, s) = handshake(client, server, server.local_addr().unwrap()).await;
    (c.expect("client side"), s.expect("server side"))
}

/// Checks that a refused connection fails for the client, whether at connect or — as with a
/// client certificate the server refuses, which TLS 1.3 checks after the client has finished
/// its handshake — at the first use of a stream. Returns the client's error text.
async fn client_refused(client_side: Result<quinn::Connection, quinn::ConnectionError>) -> String {
    let conn = match client_side {
        Err(e) => return e.to_string(),
        Ok(conn) => conn,
    };
    let used = timeout(GUARD, async {
        let (mut send, mut recv) = conn.open_bi().await?;
        write_message(&mut send, &hello(), DEFAULT_MAX_FRAME).await?;
        send.finish()?;
        read_message::<HelloReply>(&mut recv, &mut FrameReader::default()).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })
    .await
    .expect("stream use hung");
    match used {
        Ok(()) => panic!("a refused client could use its connection"),
        Err(e) => error_chain(&*e),
    }
}

/// An error and its sources, for messages that hide the reason in a source.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn hello() -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        proof: Some([7; 32]),
        functions: vec![],
    }
}

#[tokio::test]
async fn pinned_self_signed_worker_connects_and_exchanges_frames() {
    let identity = Identity::self_signed(vec!["worker-1".into()]).unwrap();
    let server = worker(&identity, None);
    let client = client(&identity.trust_pinned(), None);
    let (conn, server_conn) = connected(&client, &server).await;

    let alpn = |c: &quinn::Connection| {
        c.handshake_data()
            .unwrap()
            .downcast::<quinn::crypto::rustls::HandshakeData>()
            .unwrap()
            .protocol
    };
    assert_eq!(alpn(&conn).as_deref(), Some(ALPN));
    assert_eq!(alpn(&server_conn).as_deref(), Some(ALPN));

    let serve = tokio::spawn(async move {
        let (mut send, mut recv) = server_conn.accept_bi().await.unwrap();
        let mut reader = FrameReader::default();
        let got: Hello = read_message(&mut recv, &mut reader).await.unwrap().unwrap();
        write_message(
            &mut send,
            &HelloReply::Welcome { slots: 3 },
            DEFAULT_MAX_FRAME,
        )
        .await
        .unwrap();
        send.finish().unwrap();
        // The client finished its side after the hello: a clean end, not an error.
        let end: Option<Hello> = read_message(&mut recv, &mut reader).await.unwrap();
        // Handing the connection back keeps it open: dropping the last handle would close it
        // before the reply is delivered.
        (got, end, server_conn)
    });

    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    write_message(&mut send, &hello(), DEFAULT_MAX_FRAME)
        .await
        .unwrap();
    send.finish().unwrap();
    let mut reader = FrameReader::default();
    let reply = timeout(GUARD, read_message::<HelloReply>(&mut recv, &mut reader))
        .await
        .unwrap();
    assert_eq!(reply.unwrap(), Some(HelloReply::Welcome { slots: 3 }));
    let end = read_message::<HelloReply>(&mut recv, &mut reader)
        .await
        .unwrap();
    assert_eq!(end, None);
    let (got, server_end, _server_conn) = timeout(GUARD, serve).await.unwrap().unwrap();
    assert_eq!(got, hello());
    assert_eq!(server_end, None);
}

#[tokio::test]
async fn reading_is_cancel_safe_and_bad_frames_are_reported() {
    let identity = Identity::self_signed(vec!["worker-1".into()]).unwrap();
    let server = worker(&identity, None);
    let client = client(&identity.trust_pinned(), None);
    let (conn, server_conn) = connected(&client, &server).await;

    let mut frame = bytes::BytesMut::new();
    rivulet::remote::proto::encode(&hello(), DEFAULT_MAX_FRAME, &mut frame).unwrap();
    let (mut send, _client_recv) = conn.open_bi().await.unwrap();
    send.write_all(&frame[..10]).await.unwrap();
    let (_server_send, mut recv) = timeout(GUARD, server_conn.accept_bi())
        .await
        .unwrap()
        .unwrap();
    let mut reader = FrameReader::default();
    // Give up half-way through the frame, as a `select!` would, then read on.
    let early = timeout(
        Duration::from_millis(100),
        read_message::<Hello>(&mut recv, &mut reader),
    );
    assert!(early.await.is_err(), "a half-sent frame was decoded");
    assert_eq!(reader.buffered(), 10);
    send.write_all(&frame[10..]).await.unwrap();
    let got = timeout(GUARD, read_message::<Hello>(&mut recv, &mut reader))
        .await
        .unwrap();
    assert_eq!(got.unwrap(), Some(hello()));

    // An oversized prefix is refused without waiting for its body.
    send.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    let got = timeout(GUARD, read_message::<Hello>(&mut recv, &mut reader))
        .await
        .unwrap();
    assert!(
        matches!(got, Err(StreamError::Frame(FrameError::TooLarge { len, .. })) if len == u32::MAX as usize)
    );

    // A stream that ends mid-frame (on a connection of its own: a worker lets a client open
    // one stream).
    let (conn, server_conn) = connected(&client, &server).await;
    let (mut send, _client_recv) = timeout(GUARD, conn.open_bi()).await.unwrap().unwrap();
    send.write_all(&frame[..3]).await.unwrap();
    send.finish().unwrap();
    let (_server_send, mut recv) = timeout(GUARD, server_conn.accept_bi())
        .await
        .unwrap()
        .unwrap();
    let mut reader = FrameReader::default();
    let got = timeout(GUARD, read_message::<Hello>(&mut recv, &mut reader)).await;
    assert!(matches!(
        got.unwrap(),
        Err(StreamError::Frame(FrameError::Truncated {
            expected: 4,
            received: 3
        }))
    ));

    // A message above the writer's limit is not sent at all.
    let (conn, _server_conn) = connected(&client, &server).await;
    let (mut send, _client_recv) = timeout(GUARD, conn.open_bi()).await.unwrap().unwrap();
    let err = write_message(&mut send, &hello(), 8).await.unwrap_err();
    assert!(matches!(
        err,
        StreamError::Frame(FrameError::TooLarge { max: 8, .. })
    ));
}

#[tokio::test]
async fn client_pinning_another_certificate_is_refused_clearly() {
    let identity = Identity::self_signed(vec!["worker-1".into()]).unwrap();
    let other = Identity::self_signed(vec!["worker-1".into()]).unwrap();
    let server = worker(&identity, None);
    let client = client(&other.trust_pinned(), None);
    let (client_side, server_side) =
        handshake(&client, &server, server.local_addr().unwrap()).await;
    let err = client_side
        .expect_err("connected to an unpinned worker")
        .to_string();
    assert!(
        err.contains("not one of the 1 pinned certificate"),
        "unclear error: {err}"
    );
    assert!(server_side.is_err());
}

#[tokio::test]
async fn ca_signed_worker_is_accepted_via_ca_trust() {
    let (ca, issuer) = make_ca();
    let (identity, _, _) = issue(&issuer, &[SERVER_NAME, "127.0.0.1"]);
    let server = worker(&identity, None);
    let client = client(&Trust::Ca(vec![ca]), None);
    let (conn, _server_conn) = connected(&client, &server).await;
    assert_eq!(conn.remote_address(), server.local_addr().unwrap());
}

#[tokio::test]
async fn ca_trust_refuses_another_ca_and_another_name() {
    let (_, issuer) = make_ca();
    let (other_ca, _) = make_ca();
    let (identity, _, _) = issue(&issuer, &[SERVER_NAME]);
    let server = worker(&identity, None);
    let client_of_other_ca = client(&Trust::Ca(vec![other_ca]), None);
    let (c, _) = handshake(&client_of_other_ca, &server, server.local_addr().unwrap()).await;
    let err = c
        .expect_err("trusted a certificate from another CA")
        .to_string();
    assert!(err.contains("UnknownIssuer"), "unclear error: {err}");

    // The client always connects as SERVER_NAME: a certificate for other names does not do.
    let (ca, issuer) = make_ca();
    let (identity, _, _) = issue(&issuer, &["worker.example"]);
    let server = worker(&identity, None);
    let client = client(&Trust::Ca(vec![ca]), None);
    let (c, _) = handshake(&client, &server, server.local_addr().unwrap()).await;
    let err = c
        .expect_err("accepted a certificate for another name")
        .to_string();
    assert!(err.contains("localhost"), "unclear error: {err}");
}

#[tokio::test]
async fn mutual_tls_accepts_a_ca_signed_client_and_refuses_others() {
    let worker_id = Identity::self_signed(vec!["worker-1".into()]).unwrap();
    let (ca, issuer) = make_ca();
    let server = worker(&worker_id, Some(&Trust::Ca(vec![ca])));
    let addr = server.local_addr().unwrap();

    let (client_id, _, _) = issue(&issuer, &["client-1"]);
    let good = client(&worker_id.trust_pinned(), Some(&client_id));
    let (conn, server_conn) = connected(&good, &server).await;
    let peer = server_conn
        .peer_identity()
        .unwrap()
        .downcast::<Vec<CertificateDer<'static>>>()
        .unwrap();
    assert_eq!(peer[0], client_id.certs[0]);
    drop((conn, server_conn));

    // Without a certificate: TLS 1.3 lets the client finish before the server has checked it.
    let anonymous = client(&worker_id.trust_pinned(), None);
    let (c, s) = handshake(&anonymous, &server, addr).await;
    let server_err = s
        .expect_err("accepted a client without a certificate")
        .to_string();
    assert!(
        server_err.contains("certificate"),
        "unclear error: {server_err}"
    );
    let client_err = client_refused(c).await;
    assert!(
        client_err.contains("certificate"),
        "unclear error: {client_err}"
    );

    // With a certificate from another CA.
    let (_, other_issuer) = make_ca();
    let (stranger_id, _, _) = issue(&other_issuer, &["client-2"]);
    let stranger = client(&worker_id.trust_pinned(), Some(&stranger_id));
    let (c, s) = handshake(&stranger, &server, addr).await;
    assert!(s.is_err(), "accepted a client certificate from another CA");
    client_refused(c).await;
}

#[tokio::test]
async fn mutual_tls_with_pinned_client_certificates() {
    let worker_id = Identity::self_signed(vec!["worker-1".into()]).unwrap();
    let client_id = Identity::self_signed(vec!["client-1".into()]).unwrap();
    let server = worker(&worker_id, Some(&client_id.trust_pinned()));
    let addr = server.local_addr().unwrap();

    let good = client(&worker_id.trust_pinned(), Some(&client_id));
    connected(&good, &server).await;

    let impostor_id = Identity::self_signed(vec!["client-1".into()]).unwrap();
    let impostor = client(&worker_id.trust_pinned(), Some(&impostor_id));
    let (c, s) = handshake(&impostor, &server, addr).await;
    let server_err = s.expect_err("accepted an unpinned client").to_string();
    assert!(server_err.contains("pinned"), "unclear error: {server_err}");
    client_refused(c).await;
}

#[tokio::test]
async fn a_client_of_another_protocol_is_refused() {
    let (ca, issuer) = make_ca();
    let (identity, _, _) = issue(&issuer, &[SERVER_NAME]);
    let server = worker(&identity, None);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let mut crypto = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    crypto.alpn_protocols = vec![b"h3".to_vec()];
    let config = quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(crypto).unwrap(),
    ));
    let mut endpoint = quinn::Endpoint::client(any_port()).unwrap();
    endpoint.set_default_client_config(config);
    let (c, s) = handshake(&endpoint, &server, server.local_addr().unwrap()).await;
    assert!(c.is_err() && s.is_err(), "a non-rivulet ALPN was accepted");
}

#[tokio::test]
async fn secret_proofs_match_only_with_the_same_secret_on_the_same_connection() {
    let identity = Identity::self_signed(vec!["worker-1".into()]).unwrap();
    let server = worker(&identity, None);
    let client = client(&identity.trust_pinned(), None);
    let (conn, server_conn) = connected(&client, &server).await;

    let secret = b"correct horse battery staple";
    let proof = transport::proof(&conn, secret).unwrap();
    assert_eq!(
        transport::proof(&server_conn, secret).unwrap(),
        proof,
        "both sides derive the same"
    );
    assert!(transport::verify(&server_conn, secret, &proof));
    assert!(!transport::verify(&server_conn, b"wrong secret", &proof));
    let mut flipped = proof;
    flipped[31] ^= 1;
    assert!(!transport::verify(&server_conn, secret, &flipped));
    assert_ne!(transport::proof(&conn, b"wrong secret").unwrap(), proof);

    // The proof is bound to its TLS session: replayed on another connection, it fails.
    let (conn2, server_conn2) = connected(&client, &server).await;
    assert!(!transport::verify(&server_conn2, secret, &proof));
    assert_ne!(transport::proof(&conn2, secret).unwrap(), proof);

    assert_eq!(transport::proof(&conn, b""), Err(AuthError::EmptySecret));
    assert!(!transport::verify(&server_conn, b"", &proof));
}

#[tokio::test]
async fn identities_and_trust_load_from_pem_files() {
    let dir = TempDir::new("load");
    let (ca, ca_pem, issuer) = make_ca_pem();
    let ca_path = dir.write("ca.pem", &ca_pem);
    let (_, cert_pem, key_pem) = issue(&issuer, &[SERVER_NAME, "127.0.0.1"]);
    let cert_path = dir.write("worker.pem", &cert_pem);
    let key_path = dir.write("worker.key.pem", &key_pem);

    let identity = Identity::from_pem_files(&cert_path, &key_path).unwrap();
    let trust = Trust::ca_from_pem_file(&ca_path).unwrap();
    assert!(matches!(&trust, Trust::Ca(certs) if certs[0] == ca));
    let server = worker(&identity, None);
    let by_ca = client(&trust, None);
    connected(&by_ca, &server).await;

    // A pinned trust loaded from the worker's own certificate file works too.
    let pinned = client(&Trust::pinned_from_pem_file(&cert_path).unwrap(), None);
    connected(&pinned, &server).await;

    // Both in one file.
    let both = dir.write("both.pem", &format!("{cert_pem}{key_pem}"));
    Identity::from_pem_files(&both, &both).unwrap();
}

#[test]
fn pem_errors_name_the_file() {
    let dir = TempDir::new("errors");
    let missing = dir.0.join("missing.pem");
    let err = Trust::ca_from_pem_file(&missing).unwrap_err();
    assert!(matches!(err, TlsError::Pem { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("missing.pem") && msg.contains("I/O error"),
        "unclear: {msg}"
    );

    let garbage = dir.write("garbage.pem", "this is not PEM at all\n");
    let err = Trust::ca_from_pem_file(&garbage).unwrap_err();
    assert!(matches!(err, TlsError::NoCertificates { .. }), "{err:?}");
    assert!(err.to_string().contains("garbage.pem"), "unclear: {err}");

    let broken = dir.write(
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    );
    let err = Trust::pinned_from_pem_file(&broken).unwrap_err();
    assert!(matches!(err, TlsError::Pem { .. }), "{err:?}");
    assert!(err.to_string().contains("broken.pem"), "unclear: {err}");

    let (_, issuer) = make_ca();
    let (_, cert_pem, _) = issue(&issuer, &[SERVER_NAME]);
    let cert = dir.write("worker.pem", &cert_pem);
    let err = Identity::from_pem_files(&cert, &cert).unwrap_err();
    assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err:?}");
    assert!(err.to_string().contains("worker.pem"), "unclear: {err}");

    let err = Identity::from_pem_files(&cert, dir.0.join("nokey.pem")).unwrap_err();
    assert!(err.to_string().contains("nokey.pem"), "unclear: {err}");

    let (_, _, other_key_pem) = issue(&issuer, &[SERVER_NAME]);
    let other_key = dir.write("other.key.pem", &other_key_pem);
    let err = Identity::from_pem_files(&cert, &other_key).unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("other.key.pem") && msg.contains("worker.pem"),
        "unclear: {msg}"
    );
}

#[test]
fn empty_trust_and_bad_settings_are_refused() {
    let identity = Identity::self_signed(vec!["worker-1".into()]).unwrap();
    let settings = TransportSettings::default();
    assert!(matches!(
        client_config(&Trust::Pinned(vec![]), None, &settings),
        Err(TlsError::EmptyTrust)
    ));
    assert!(matches!(
        client_config(&Trust::Ca(vec![]), None, &settings),
        Err(TlsError::Verifier(_))
    ));
    assert!(matches!(
        server_config(&identity, Some(&Trust::Pinned(vec![])), &settings),
        Err(TlsError::EmptyTrust)
    ));
    let slow = TransportSettings {
        keep_alive: settings.idle_timeout,
        ..settings
    };
    assert!(matches!(
        server_config(&identity, None, &slow),
        Err(TlsError::KeepAliveTooLong { .. })
    ));
}

#[tokio::test]
async fn keep_alive_holds_an_idle_connection_and_a_lost_worker_is_noticed_within_a_second() {
    let identity = Identity::self_signed(vec!["worker-1".into()]).unwrap();
    let server = worker(&identity, None);
    let relay = Relay::start(server.local_addr().unwrap()).await;
    let client = client(&identity.trust_pinned(), None);
    let (conn, server_conn) = handshake(&client, &server, relay.addr).await;
    let (conn, _server_conn) = (conn.unwrap(), server_conn.unwrap());

    // Idle for well over the idle timeout: keep-alives keep it open.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        conn.close_reason().is_none(),
        "an idle connection died: {:?}",
        conn.close_reason()
    );

    relay.cut.store(true, Ordering::Relaxed);
    let cut_at = Instant::now();
    let reason = timeout(Duration::from_secs(5), conn.closed())
        .await
        .expect("loss not noticed");
    let noticed = cut_at.elapsed();
    assert_eq!(reason, quinn::ConnectionError::TimedOut);
    assert!(
        noticed >= Duration::from_millis(700) && noticed < Duration::from_millis(2500),
        "noticed after {noticed:?}"
    );
}
