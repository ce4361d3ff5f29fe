//! A fake worker: a real QUIC server endpoint with the worker's TLS settings and a fresh
//! certificate, that does the handshake by hand and then misbehaves as a test tells it to.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rivulet::remote::proto::{ClientMessage, Hello, HelloReply, MAX_HELLO, Reply, encode};
use rivulet::remote::transport::{
    self, FrameReader, Identity, TransportSettings, Trust, read_message, write_message,
};
use rivulet::remote::{ClientAuth, ConnectConfig};

/// The secret the tests' clients prove (the fake never checks it).
pub(crate) const FAKE_SECRET: &[u8] = b"fake worker";

/// The largest frame the fake reads or writes.
const FAKE_MAX: usize = 64 << 20;

/// A fake worker serving every connection with a behaviour of the test's.
pub(crate) struct FakeWorker {
    pub(crate) addr: SocketAddr,
    pub(crate) trust: Trust,
    /// How many connections the client closed (a client giving up on this worker); a client
    /// that redials may come back after that.
    pub(crate) closed_by_client: Arc<AtomicUsize>,
    endpoint: quinn::Endpoint,
    serving: tokio::task::JoinHandle<()>,
}

impl FakeWorker {
    /// Serves each connection with `behaviour`, on the caller's runtime.
    pub(crate) fn start<F, Fut>(behaviour: F) -> FakeWorker
    where
        F: Fn(quinn::Connection) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self::start_with(None, behaviour)
    }

    /// [`start`](Self::start), with the transport settings of `transport` instead of a
    /// worker's (to grant the client no stream, say).
    pub(crate) fn start_with<F, Fut>(
        transport: Option<quinn::TransportConfig>,
        behaviour: F,
    ) -> FakeWorker
    where
        F: Fn(quinn::Connection) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let identity = Identity::self_signed(vec!["localhost".to_owned()]).unwrap();
        let trust = identity.trust_pinned();
        let mut config =
            transport::server_config(&identity, None, &TransportSettings::default()).unwrap();
        if let Some(transport) = transport {
            config.transport_config(Arc::new(transport));
        }
        let endpoint =
            quinn::Endpoint::server(config, SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let addr = endpoint.local_addr().unwrap();
        let accepting = endpoint.clone();
        let behaviour = Arc::new(behaviour);
        let closed_by_client = Arc::new(AtomicUsize::new(0));
        let closed = Arc::clone(&closed_by_client);
        let serving = tokio::spawn(async move {
            while let Some(incoming) = accepting.accept().await {
                let behaviour = Arc::clone(&behaviour);
                let closed = Arc::clone(&closed);
                tokio::spawn(async move {
                    let Ok(connection) = incoming.await else {
                        return;
                    };
                    let watched = connection.clone();
                    tokio::spawn(async move {
                        if let quinn::ConnectionError::ApplicationClosed(_) = watched.closed().await
                        {
                            closed.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                    behaviour(connection).await;
                });
            }
        });
        FakeWorker {
            addr,
            trust,
            closed_by_client,
            endpoint,
            serving,
        }
    }

    /// Waits until the client has closed a connection to this fake (given it up).
    pub(crate) async fn given_up(&self) {
        while self.closed_by_client.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// A client configuration that trusts this fake and proves [`FAKE_SECRET`].
    pub(crate) fn connect_config(&self) -> ConnectConfig {
        ConnectConfig::new(self.trust.clone(), ClientAuth::Secret(FAKE_SECRET.to_vec()))
    }
}

impl Drop for FakeWorker {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"fake worker gone");
        self.serving.abort();
    }
}

/// The client's stream, once its hello has been read.
pub(crate) struct Session {
    pub(crate) connection: quinn::Connection,
    pub(crate) send: quinn::SendStream,
    pub(crate) recv: quinn::RecvStream,
    pub(crate) reader: FrameReader,
    pub(crate) hello: Hello,
}

impl Session {
    /// Accepts the client's stream and reads its hello; `None` if the client goes first.
    pub(crate) async fn accept(connection: quinn::Connection) -> Option<Session> {
        let (send, mut recv) = connection.accept_bi().await.ok()?;
        let mut reader = FrameReader::new(MAX_HELLO);
        let hello = read_message::<Hello>(&mut recv, &mut reader).await.ok()??;
        Some(Session {
            connection,
            send,
            recv,
            reader: FrameReader::new(FAKE_MAX),
            hello,
        })
    }

    /// Accepts the client and welcomes it.
    pub(crate) async fn welcomed(connection: quinn::Connection) -> Option<Session> {
        let mut session = Self::accept(connection).await?;
        session.say(&HelloReply::Welcome { slots: 2 }).await.ok()?;
        Some(session)
    }

    /// Writes one message as a frame.
    pub(crate) async fn say<M: serde::Serialize>(
        &mut self,
        message: &M,
    ) -> Result<(), transport::StreamError> {
        write_message(&mut self.send, message, FAKE_MAX).await
    }

    /// Answers with this reply.
    pub(crate) async fn reply(&mut self, reply: Reply) -> Result<(), transport::StreamError> {
        self.say(&reply).await
    }

    /// The client's next message; `None` once it is gone.
    pub(crate) async fn next(&mut self) -> Option<ClientMessage> {
        read_message::<ClientMessage>(&mut self.recv, &mut self.reader)
            .await
            .ok()
            .flatten()
    }

    /// Writes a frame that announces `len` bytes, then up to `len` bytes of body that start
    /// with `prefix`, a chunk at a time (so the fake itself holds little), until the client
    /// stops reading or closes.
    pub(crate) async fn huge_frame(&mut self, len: u32, prefix: &[u8]) {
        let mut head = bytes::BytesMut::new();
        head.extend_from_slice(&len.to_be_bytes());
        head.extend_from_slice(prefix);
        if self.send.write_all(&head).await.is_err() {
            return;
        }
        let chunk = vec![b'a'; 64 << 10];
        let mut left = (len as usize).saturating_sub(prefix.len());
        while left > 0 {
            let n = left.min(chunk.len());
            if self.send.write_all(&chunk[..n]).await.is_err() {
                return;
            }
            left -= n;
        }
    }

    /// Waits until the connection is gone.
    pub(crate) async fn hold(self) {
        self.connection.closed().await;
    }
}

/// The postcard encoding of `value`.
pub(crate) fn encoded<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).unwrap()
}

/// The frame of `message`, header included.
pub(crate) fn frame<M: serde::Serialize>(message: &M) -> bytes::BytesMut {
    let mut buf = bytes::BytesMut::new();
    encode(message, FAKE_MAX, &mut buf).unwrap();
    buf
}
