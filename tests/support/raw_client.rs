//! A client that speaks the protocol by hand over real QUIC, for tests of what a worker does
//! with strangers and greedy clients, and the resident memory of a process.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rivulet::remote::proto::{
    ClientMessage, Hello, HelloReply, Key, PROTOCOL_VERSION, Reply, Request, Task, TaskKind, encode,
};
use rivulet::remote::transport::{
    self, FrameReader, TransportSettings, Trust, read_message, write_message,
};

/// The largest frame these raw clients write or read.
pub(crate) const RAW_MAX: usize = 64 << 20;

/// A client endpoint on 127.0.0.1 that trusts `trust`.
pub(crate) fn endpoint(trust: &Trust) -> quinn::Endpoint {
    let config = transport::client_config(trust, None, &TransportSettings::default()).unwrap();
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    endpoint.set_default_client_config(config);
    endpoint
}

/// A QUIC connection to `addr` that has finished TLS and said nothing (a stranger's).
pub(crate) async fn connect(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
) -> Result<quinn::Connection, quinn::ConnectionError> {
    endpoint.connect(addr, "localhost").unwrap().await
}

/// Sends a hello (with a proof of `secret`, if given) and returns the worker's answer with the
/// stream.
pub(crate) async fn hello(
    connection: &quinn::Connection,
    secret: Option<&[u8]>,
    functions: Vec<rivulet::remote::proto::FunctionId>,
) -> (quinn::SendStream, quinn::RecvStream, Option<HelloReply>) {
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    let hello = Hello {
        version: PROTOCOL_VERSION,
        proof: secret.map(|secret| transport::proof(connection, secret).unwrap()),
        functions,
    };
    write_message(&mut send, &hello, RAW_MAX).await.unwrap();
    let reply = read_message::<HelloReply>(&mut recv, &mut FrameReader::new(RAW_MAX))
        .await
        .unwrap();
    (send, recv, reply)
}

/// A connection that proved `secret` and was welcomed.
pub(crate) struct Welcomed {
    pub(crate) connection: quinn::Connection,
    pub(crate) send: quinn::SendStream,
    pub(crate) recv: quinn::RecvStream,
    pub(crate) reader: FrameReader,
    /// Keeps the endpoint (and so the connection) alive.
    pub(crate) endpoint: quinn::Endpoint,
}

impl Welcomed {
    pub(crate) async fn new(addr: SocketAddr, trust: &Trust, secret: &[u8]) -> Welcomed {
        let endpoint = endpoint(trust);
        let connection = connect(&endpoint, addr).await.unwrap();
        let (send, recv, reply) = hello(
            &connection,
            Some(secret),
            rivulet::remote::registry::functions(),
        )
        .await;
        assert!(
            matches!(reply, Some(HelloReply::Welcome { .. })),
            "{reply:?}"
        );
        Welcomed {
            connection,
            send,
            recv,
            reader: FrameReader::new(RAW_MAX),
            endpoint,
        }
    }

    pub(crate) async fn send(&mut self, message: &ClientMessage) {
        write_message(&mut self.send, message, RAW_MAX)
            .await
            .unwrap();
    }

    /// Writes many messages in one write.
    pub(crate) async fn send_all(&mut self, messages: &[ClientMessage]) {
        let mut buf = BytesMut::new();
        for message in messages {
            encode(message, RAW_MAX, &mut buf).unwrap();
        }
        self.send.write_all(&buf).await.unwrap();
    }

    /// The next reply, or `None` at the end of the stream; panics on errors.
    pub(crate) async fn reply(&mut self) -> Option<Reply> {
        read_message::<Reply>(&mut self.recv, &mut self.reader)
            .await
            .unwrap()
    }
}

/// The registered name of the remote function whose name ends with `suffix`.
pub(crate) fn function_named(suffix: &str) -> String {
    rivulet::remote::registry::functions()
        .into_iter()
        .find(|f| f.name.ends_with(suffix))
        .unwrap_or_else(|| panic!("no remote function named *{suffix}"))
        .name
}

/// Scatter `value` (postcard-encoded already) under `key`.
pub(crate) fn scatter(key: u64, value: impl Into<Bytes>) -> ClientMessage {
    ClientMessage::Scatter {
        key: Key(key),
        value: value.into(),
    }
}

/// Request `id`: run `function` on `input`, keeping the result under `output`.
pub(crate) fn map(id: u64, function: &str, input: u64, output: u64) -> ClientMessage {
    ClientMessage::Request {
        id,
        request: Request::Submit(Task {
            kind: TaskKind::Map,
            function: function.to_owned(),
            params: Bytes::new(),
            inputs: vec![Key(input)],
            outputs: vec![Key(output)],
            reply_with_value: false,
        }),
    }
}

/// Request `id`: zip `a` and `b` into `output`.
pub(crate) fn zip(id: u64, a: u64, b: u64, output: u64) -> ClientMessage {
    ClientMessage::Request {
        id,
        request: Request::Submit(Task {
            kind: TaskKind::Zip,
            function: String::new(),
            params: Bytes::new(),
            inputs: vec![Key(a), Key(b)],
            outputs: vec![Key(output)],
            reply_with_value: false,
        }),
    }
}

/// Request `id`: send back the value under `key`.
pub(crate) fn fetch(id: u64, key: u64) -> ClientMessage {
    ClientMessage::Request {
        id,
        request: Request::Fetch { key: Key(key) },
    }
}

/// How the worker closed `connection`: the reason of its application close, within `guard`.
pub(crate) async fn closed_by_worker(connection: &quinn::Connection, guard: Duration) -> String {
    match tokio::time::timeout(guard, connection.closed()).await {
        Ok(quinn::ConnectionError::ApplicationClosed(close)) => {
            String::from_utf8_lossy(&close.reason).into_owned()
        }
        other => panic!("the worker should close the connection, got {other:?}"),
    }
}

/// Held by a test while it measures this process's memory, so that two such tests of one
/// binary do not measure each other.
pub(crate) static MEMORY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The resident memory of process `pid` (`"self"` for this one), in bytes.
pub(crate) fn rss_of(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// This process's resident memory, in bytes.
pub(crate) fn rss() -> u64 {
    rss_of("self")
}
