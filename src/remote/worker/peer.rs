//! Worker to worker: serving granted values to peers, and pulling values from them.
//!
//! The rules (who may take what, once) are the sans-IO [`Grants`] and [`answer_peer`]; this is
//! the thin part that moves the bytes over QUIC.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, Semaphore};
use tracing::debug;

use super::{WorkerShared, lock};
use crate::remote::obs::WorkerStats;
use crate::remote::proto::{
    Failure, Grantor, Grants, Holder, MAX_PEER_REQUEST, PROTOCOL_VERSION, PeerAnswer, PeerRequest,
    Token, answer_peer, unavailable,
};
use crate::remote::transport::{
    FrameReader, TransportSettings, peer_client_config, read_message, write_message,
};

/// How long a peer's request waits for its grant to arrive (the protocol's bound, which the
/// client's deadline for a pull allows for).
pub(crate) use crate::remote::proto::PEER_GRANT_WAIT as GRANT_WAIT;

/// How many requests may wait for a grant at once, over all peers (each holds a stream).
const MAX_WAITING: usize = 64;

/// How many streams (values in flight) one peer connection may have open at once.
const PEER_STREAMS: u32 = 16;

/// How many values a worker pulls at once, over all its clients (each may be large).
const MAX_PULLS: usize = 8;

/// How long connecting to a peer, and its answer's first frame, may take.
use crate::remote::proto::PEER_TIMEOUT;

/// A holder's grants, with a wake-up for the peers' requests that wait for theirs: the part of
/// the holder both the worker's peer server and the simulation's workers use.
#[derive(Debug, Default)]
pub(crate) struct GrantBoard {
    grants: Mutex<Grants>,
    /// Woken whenever a grant arrives (or the board closes).
    granted: Notify,
    /// Set once the holder is gone: nothing waits any more.
    closed: std::sync::atomic::AtomicBool,
}

impl GrantBoard {
    pub(crate) fn offer(&self, token: Token, grantor: Grantor, value: Result<Bytes, Failure>) {
        lock(&self.grants).offer(token, grantor, value);
        self.granted.notify_waiters();
    }

    pub(crate) fn revoke(&self, tokens: &[Token]) {
        lock(&self.grants).revoke(tokens);
    }

    pub(crate) fn revoke_all(&self, grantor: Grantor) {
        lock(&self.grants).revoke_all(grantor);
    }

    /// How many grants are open.
    pub(crate) fn len(&self) -> usize {
        lock(&self.grants).len()
    }

    /// The holder is gone: every grant ends, and no request waits for one any more.
    pub(crate) fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        *lock(&self.grants) = Grants::default();
        self.granted.notify_waiters();
    }

    /// The grant for `token` if there is one, or once it arrives within `wait`; taken.
    pub(crate) async fn take_within(
        &self,
        token: &Token,
        wait: Duration,
    ) -> Option<Result<Bytes, Failure>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.granted.notified();
            tokio::pin!(notified);
            // Registered before looking, so a grant arriving in between is not missed.
            notified.as_mut().enable();
            if self.closed.load(std::sync::atomic::Ordering::Acquire) {
                return None;
            }
            if let Some(granted) = lock(&self.grants).take(token) {
                return Some(granted);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// The grant for `token`, without waiting.
    fn take_now(&self, token: &Token) -> Option<Result<Bytes, Failure>> {
        lock(&self.grants).take(token)
    }
}

/// A worker's side of worker-to-worker transfer.
pub(super) struct Peers {
    /// The worker's endpoint, which also dials peers (set once it is bound).
    endpoint: OnceLock<quinn::Endpoint>,
    transport: TransportSettings,
    pub(super) grants: GrantBoard,
    waiting: Semaphore,
    pulls: Semaphore,
    /// One connection per holder (address and certificate), shared by every pull from it.
    connections: Mutex<HashMap<(SocketAddr, Bytes), quinn::Connection>>,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers")
            .field("grants", &self.grants.len())
            .finish_non_exhaustive()
    }
}

impl Peers {
    pub(super) fn new(transport: TransportSettings) -> Self {
        Peers {
            endpoint: OnceLock::new(),
            transport,
            grants: GrantBoard::default(),
            waiting: Semaphore::new(MAX_WAITING),
            pulls: Semaphore::new(MAX_PULLS),
            connections: Mutex::new(HashMap::new()),
        }
    }

    /// The endpoint to dial peers from: the worker's own.
    pub(super) fn set_endpoint(&self, endpoint: &quinn::Endpoint) {
        let _ = self.endpoint.set(endpoint.clone());
    }

    /// The grant for `token`, waiting a little for it to arrive.
    async fn take_grant(&self, token: &Token) -> Option<Result<Bytes, Failure>> {
        if let Some(granted) = self.grants.take_now(token) {
            return Some(granted);
        }
        // A bounded number wait, each for a bounded time: a stranger guessing tokens costs
        // the worker a few streams for two seconds, never memory.
        let _waiting = self.waiting.try_acquire().ok()?;
        self.grants.take_within(token, GRANT_WAIT).await
    }

    /// Fetches the value `holder` grants, at most `max_value` bytes of it.
    pub(super) async fn pull(&self, holder: &Holder, max_value: u64) -> Result<Bytes, Failure> {
        let _turn = self
            .pulls
            .acquire()
            .await
            .map_err(|_| unavailable(holder.addr, "the worker is stopping"))?;
        let connection = self.connection(holder).await?;
        let pulled = pull_on(&connection, holder, max_value).await;
        if pulled.is_err() && connection.close_reason().is_some() {
            // A connection that went is dialled again by the next pull.
            let mut connections = lock(&self.connections);
            let key = (holder.addr, holder.certificate.clone());
            if connections
                .get(&key)
                .is_some_and(|cached| cached.stable_id() == connection.stable_id())
            {
                connections.remove(&key);
            }
        }
        if let Ok(bytes) = &pulled {
            WorkerStats::global().pulled_from_peer(bytes.len());
        }
        pulled
    }

    async fn connection(&self, holder: &Holder) -> Result<quinn::Connection, Failure> {
        let key = (holder.addr, holder.certificate.clone());
        if let Some(connection) = lock(&self.connections).get(&key) {
            if connection.close_reason().is_none() {
                return Ok(connection.clone());
            }
        }
        let endpoint = self
            .endpoint
            .get()
            .ok_or_else(|| unavailable(holder.addr, "the worker has no endpoint yet"))?;
        let config = peer_client_config(&holder.certificate, &self.transport)
            .map_err(|error| unavailable(holder.addr, error))?;
        let connecting = endpoint
            .connect_with(config, holder.addr, crate::remote::transport::SERVER_NAME)
            .map_err(|error| unavailable(holder.addr, error))?;
        let connection = match tokio::time::timeout(PEER_TIMEOUT, connecting).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(error)) => return Err(unavailable(holder.addr, error)),
            Err(_) => return Err(unavailable(holder.addr, "no answer in time")),
        };
        lock(&self.connections).insert(key, connection.clone());
        Ok(connection)
    }
}

/// One pull on an open connection to the holder.
async fn pull_on(
    connection: &quinn::Connection,
    holder: &Holder,
    max_value: u64,
) -> Result<Bytes, Failure> {
    let failed = |why: &dyn std::fmt::Display| unavailable(holder.addr, why);
    let header = async {
        let (mut send, mut recv) = connection.open_bi().await.map_err(|e| failed(&e))?;
        let request = PeerRequest {
            version: PROTOCOL_VERSION,
            token: holder.token,
        };
        write_message(&mut send, &request, MAX_PEER_REQUEST)
            .await
            .map_err(|e| failed(&e))?;
        let _ = send.finish();
        let mut reader = FrameReader::new(MAX_PEER_REQUEST.max(64 << 10));
        let answer = read_message::<PeerAnswer>(&mut recv, &mut reader)
            .await
            .map_err(|e| failed(&e))?;
        Ok::<_, Failure>((answer, recv))
    };
    let (answer, mut recv) = match tokio::time::timeout(PEER_TIMEOUT + GRANT_WAIT, header).await {
        Ok(header) => header?,
        Err(_) => return Err(failed(&"no answer in time")),
    };
    match answer {
        Some(PeerAnswer::Value { total }) if total > max_value => Err(Failure::new(
            crate::remote::proto::FailureKind::ValueTooLarge,
            format!(
                "the value to pull is {total} bytes, over the worker's limit of {max_value} bytes"
            ),
        )),
        Some(PeerAnswer::Value { total }) => {
            // `total` is within the value limit, so this is bounded; the holder going away
            // ends the read with an error (QUIC's idle timeout at the latest).
            let limit = usize::try_from(total).map_err(|e| failed(&e))?;
            let bytes = recv.read_to_end(limit).await.map_err(|e| failed(&e))?;
            if bytes.len() != limit {
                return Err(failed(&format_args!(
                    "the holder sent {} of the {total} bytes it announced",
                    bytes.len()
                )));
            }
            Ok(Bytes::from(bytes))
        }
        Some(PeerAnswer::Failed(failure)) => Err(failure),
        Some(PeerAnswer::Refused(why)) => Err(failed(&format_args!("refused: {why}"))),
        None => Err(failed(&"the holder ended the stream without an answer")),
    }
}

/// Serves one peer's connection: each stream asks for one granted value.
pub(super) async fn serve_peer(connection: quinn::Connection, shared: Arc<WorkerShared>) {
    let remote = connection.remote_address();
    connection.set_max_concurrent_bi_streams(PEER_STREAMS.into());
    loop {
        let (send, recv) = tokio::select! {
            accepted = connection.accept_bi() => match accepted {
                Ok(streams) => streams,
                Err(error) => {
                    debug!(%remote, %error, "peer connection ended");
                    return;
                }
            },
            () = shared.drain.cancelled() => return,
        };
        let serving = Arc::clone(&shared);
        shared
            .connections
            .spawn(async move { serve_stream(send, recv, &serving).await });
    }
}

async fn serve_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    shared: &WorkerShared,
) {
    let mut reader = FrameReader::new(MAX_PEER_REQUEST);
    let request = tokio::time::timeout(
        shared.timeouts.hello,
        read_message::<PeerRequest>(&mut recv, &mut reader),
    )
    .await;
    let (answer, body) = match request {
        Ok(Ok(Some(request))) => {
            let granted = shared.peers.take_grant(&request.token).await;
            answer_peer(&request, granted)
        }
        Ok(Ok(None)) | Ok(Err(_)) | Err(_) => {
            let _ = send.reset(1u32.into());
            return;
        }
    };
    if write_message(&mut send, &answer, 64 << 10).await.is_err() {
        return;
    }
    if let Some(body) = body {
        let len = body.len();
        if send.write_chunk(body).await.is_err() {
            return;
        }
        WorkerStats::global().served_peer(len);
    }
    let _ = send.finish();
    // Let the last bytes be acknowledged before the stream goes (bounded by the idle timeout).
    let _ = send.stopped().await;
}
