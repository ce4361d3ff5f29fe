//! The client's side of one worker connection: the handshake, requests and their replies.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use crate::remote::TaskError;
use crate::remote::auth;
use crate::remote::client::{ClientAuth, ClientError, ConnectConfig};
use crate::remote::metrics::{InFlight, Metrics};
use crate::remote::pipe::{FrameReader, spawn_writer};
use crate::remote::protocol::{
    ClientMessage, Hello, HelloReply, Key, PROTOCOL_VERSION, Reply, Request, Response,
};
use crate::remote::registry;
use crate::remote::wire::write_message;

/// How long a worker may take to answer the hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which worker a value lives on: its place in the client's list, and its address.
///
/// ```
/// # use rivulet::remote::WorkerId;
/// fn show(worker: WorkerId) -> String { worker.to_string() }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkerId {
    index: usize,
    addr: SocketAddr,
}

impl WorkerId {
    /// The worker's place in the client's list of workers (0, 1, ...).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The worker's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker {} ({})", self.index, self.addr)
    }
}

/// A request waiting for its reply: who wants it, what the metrics remember, and when a task
/// was sent (for the worker's task-time estimate; `None` for other requests).
type PendingReplies = HashMap<
    u64,
    (
        oneshot::Sender<Result<Response, TaskError>>,
        InFlight,
        Option<Instant>,
    ),
>;

/// The task time assumed for a worker before any of its tasks has finished.
const INITIAL_TASK_TIME: Duration = Duration::from_micros(100);

/// A welcomed connection to one worker.
pub(crate) struct Link {
    pub(crate) id: WorkerId,
    pub(crate) slots: u32,
    connection: quinn::Connection,
    outgoing: mpsc::UnboundedSender<ClientMessage>,
    pending: Mutex<PendingReplies>,
    next_request: AtomicU64,
    /// Requests sent and not answered yet: the placement's measure of load.
    outstanding: AtomicUsize,
    alive: AtomicBool,
    metrics: Arc<Metrics>,
    /// A moving average of how long this worker's tasks take, request to reply, in nanoseconds.
    task_time_ns: AtomicU64,
    /// How many values were scattered here.
    scattered: AtomicU64,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("id", &self.id)
            .field("outstanding", &self.outstanding())
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl Link {
    /// Connects, proves who we are, and starts the tasks that move this link's frames.
    pub(crate) async fn connect(
        endpoint: &quinn::Endpoint,
        client_config: quinn::ClientConfig,
        index: usize,
        addr: SocketAddr,
        config: &ConnectConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Link>, ClientError> {
        let (server_name, auth, max_frame) =
            (config.server_name.as_str(), &config.auth, config.max_frame);
        let connecting = endpoint
            .connect_with(client_config, addr, server_name)
            .map_err(|source| ClientError::Connect {
                addr,
                source: source.into(),
            })?;
        let connection = connecting.await.map_err(|source| ClientError::Connect {
            addr,
            source: source.into(),
        })?;
        let (mut send, recv) =
            connection
                .open_bi()
                .await
                .map_err(|source| ClientError::Connect {
                    addr,
                    source: source.into(),
                })?;
        let proof = match auth {
            ClientAuth::Secret(secret) => Some(auth::proof(&connection, secret).map_err(
                |source| ClientError::Connect {
                    addr,
                    source: source.into(),
                },
            )?),
            ClientAuth::Certificate(_) => None,
        };
        let hello = Hello {
            version: PROTOCOL_VERSION,
            proof,
            functions: registry::functions(),
        };
        write_message(&mut send, &hello, max_frame)
            .await
            .map_err(|source| ClientError::Handshake {
                addr,
                source: source.into(),
            })?;
        let mut reader = FrameReader::new(recv, max_frame);
        let reply = tokio::time::timeout(HANDSHAKE_TIMEOUT, reader.next::<HelloReply>())
            .await
            .map_err(|_| ClientError::HandshakeTimeout { addr })?
            .map_err(|source| ClientError::Handshake {
                addr,
                source: source.into(),
            })?;
        let slots = match reply {
            Some(HelloReply::Welcome { slots }) => slots,
            Some(HelloReply::Refused(refusal)) => {
                return Err(ClientError::Refused { addr, refusal });
            }
            // The worker closed without a word: most likely it refused our certificate.
            None => return Err(ClientError::HandshakeClosed { addr }),
        };
        let (outgoing, writer) = spawn_writer::<ClientMessage>(send, max_frame);
        let link = Arc::new(Link {
            id: WorkerId { index, addr },
            slots,
            connection,
            outgoing,
            pending: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(0),
            outstanding: AtomicUsize::new(0),
            alive: AtomicBool::new(true),
            metrics,
            task_time_ns: AtomicU64::new(INITIAL_TASK_TIME.as_nanos() as u64),
            scattered: AtomicU64::new(0),
        });
        link.metrics.on_worker_up(link.id, slots);
        tokio::spawn(read_replies(Arc::clone(&link), reader, writer));
        Ok(link)
    }

    fn pending(&self) -> MutexGuard<'_, PendingReplies> {
        // Only inserts and removes happen under the lock; a panic cannot leave it half-done.
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends a request; the receiver gets the worker's response, or the error that lost it.
    pub(crate) fn request(
        &self,
        request: Request,
    ) -> oneshot::Receiver<Result<Response, TaskError>> {
        let (tx, rx) = oneshot::channel();
        if !self.is_alive() {
            let _ = tx.send(Err(TaskError::worker_lost(self.id)));
            return rx;
        }
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let in_flight = self.metrics.on_request(self.id, &request);
        let task_sent = matches!(request, Request::Submit(_)).then(Instant::now);
        self.pending().insert(id, (tx, in_flight, task_sent));
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        if self
            .outgoing
            .send(ClientMessage::Request { id, request })
            .is_err()
        {
            self.fail_all();
        }
        rx
    }

    /// Sends a value to keep under `key`. There is no reply: the caller keeps the bytes too.
    pub(crate) fn scatter(&self, key: Key, value: Bytes) {
        if self.is_alive() {
            self.metrics.on_scatter(self.id, key, value.len());
            self.scattered.fetch_add(1, Ordering::Relaxed);
            // A closed writer means a lost worker, which the tasks on this value will notice.
            let _ = self.outgoing.send(ClientMessage::Scatter { key, value });
        }
    }

    /// Tells the worker these values are no longer needed.
    pub(crate) fn release(&self, key: Key) {
        if self.is_alive() {
            self.metrics.on_release(self.id, key);
            // A closed writer means a closed connection, which frees everything anyway.
            let _ = self.outgoing.send(ClientMessage::Release(vec![key]));
        }
    }

    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// How long the work already queued here will take, by this worker's recent task times:
    /// the placement's measure, so that a slow worker gets less. Idle workers all score zero
    /// and share the work round-robin.
    pub(crate) fn expected_wait(&self) -> u128 {
        self.outstanding() as u128 * u128::from(self.task_time_ns.load(Ordering::Relaxed))
    }

    /// How many values were ever scattered here: the tie-breaker that makes placement
    /// round-robin.
    pub(crate) fn values_scattered(&self) -> u64 {
        self.scattered.load(Ordering::Relaxed)
    }

    fn record_task_time(&self, sample: Duration) {
        let sample = u64::try_from(sample.as_nanos()).unwrap_or(u64::MAX);
        let old = self.task_time_ns.load(Ordering::Relaxed);
        // An exponential moving average over about eight tasks.
        let new = old - old / 8 + sample / 8;
        self.task_time_ns.store(new.max(1), Ordering::Relaxed);
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Marks the link dead and answers every waiting request with a lost-worker error.
    fn fail_all(&self) {
        if self.alive.swap(false, Ordering::AcqRel) {
            self.metrics.on_worker_lost(self.id);
        }
        let pending = std::mem::take(&mut *self.pending());
        self.outstanding.store(0, Ordering::Relaxed);
        for (_, (waiter, in_flight, _)) in pending {
            self.metrics.on_response(self.id, in_flight, None);
            let _ = waiter.send(Err(TaskError::worker_lost(self.id)));
        }
    }

    /// Closes the connection (its values on the worker are freed with it).
    pub(crate) fn close(&self) {
        self.connection.close(0u32.into(), b"client closed");
        self.fail_all();
    }
}

async fn read_replies(
    link: Arc<Link>,
    mut reader: FrameReader,
    writer: tokio::task::JoinHandle<Result<(), crate::remote::frame::FrameError>>,
) {
    loop {
        match reader.next::<Reply>().await {
            Ok(Some(Reply { id, response })) => {
                let waiting = link.pending().remove(&id);
                if let Some((waiter, in_flight, task_sent)) = waiting {
                    link.outstanding.fetch_sub(1, Ordering::Relaxed);
                    if let Some(sent) = task_sent {
                        link.record_task_time(sent.elapsed());
                    }
                    link.metrics
                        .on_response(link.id, in_flight, Some(&response));
                    let _ = waiter.send(Ok(response));
                }
            }
            Ok(None) => break,
            Err(error) => {
                debug!(worker = %link.id, %error, "lost worker");
                break;
            }
        }
    }
    writer.abort();
    link.fail_all();
}
