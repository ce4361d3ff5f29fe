//! The client's side of one worker connection: the handshake, then requests and their replies.
//!
//! A [`Link`] is the same whatever carries its messages: [`Link::connect`] dials a worker over
//! QUIC and starts the tasks that move its frames; a test can build one over channels
//! ([`Link::new`]) and drive [`Link::deliver`] and [`Link::lost`] itself. The rules (the
//! in-flight table and its closed flag, pieces of large replies, placement's load) are the
//! sans-IO ones of [`proto`](crate::remote::proto).

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::future::{Settle, Value};
use super::lock;
use super::{ClientAuth, ClientError, ConnectConfig};
use crate::remote::obs::{InFlight as Recorded, Metrics};
use crate::remote::proto::{
    AnswerError, ClientMessage, Hello, HelloReply, Holder, INITIAL_TASK_TIME, InFlight, Key,
    Limits, Load, MAX_HELLO, PROTOCOL_VERSION, PULL_GRACE, Reply, Request, Response, TaskError,
    TaskErrorKind, Token, WorkerId, merge_releases, pieces,
};
use crate::remote::registry;
use crate::remote::transport::{self, MessageReader, StreamError, spawn_writer, write_message};

/// The smallest frame limit for a worker's replies (failure messages may be long).
const MIN_REPLY_FRAME: usize = 4 << 20;

/// The answer a request's sender waits for.
pub(crate) type Answer = Result<Response, TaskError>;

/// Who gets a request's answer: a channel, or (for a task) its outputs' status directly.
#[derive(Debug)]
pub(crate) enum Answerer {
    Channel(oneshot::Sender<Answer>),
    Status(Settle),
}

impl Answerer {
    fn send(self, answer: Answer) {
        match self {
            // A dropped receiver: nobody waits for the answer any more.
            Answerer::Channel(channel) => drop(channel.send(answer)),
            Answerer::Status(settle) => settle.answer(answer),
        }
    }
}

/// A request waiting for its reply: who wants it, what the metrics remember, and when a task
/// was sent (for the worker's task-time estimate; `None` for other requests).
#[derive(Debug)]
struct Waiter {
    answer: Answerer,
    recorded: Recorded,
    task_sent: Option<Instant>,
    /// A task's outputs, to forget their lineage as soon as their bytes come with the reply.
    outputs: Vec<Weak<Value>>,
}

/// How the link's connection is closed from this side.
type Closer = Box<dyn Fn() + Send + Sync>;

/// A welcomed connection to one worker.
pub(crate) struct Link {
    pub(crate) id: WorkerId,
    pub(crate) slots: u32,
    close_connection: Closer,
    outgoing: mpsc::UnboundedSender<ClientMessage>,
    /// The requests in flight and the closed flag, under one lock.
    pending: Mutex<InFlight<Waiter>>,
    /// A copy of "not closed" for placement to read without the lock; the table decides.
    alive: AtomicBool,
    /// Requests sent and not answered yet: the placement's measure of load.
    outstanding: AtomicUsize,
    metrics: Arc<Metrics>,
    /// A moving average of how long this worker's tasks take, request to reply, in nanoseconds.
    task_time_ns: AtomicU64,
    /// How many values were scattered here.
    scattered: AtomicU64,
    limits: Limits,
    /// Cancelled once the link is dead, for whoever redials it.
    ended: CancellationToken,
    /// Set when discovery retires the worker: placement sends it nothing new.
    draining: AtomicBool,
    /// Where other workers reach this one, if it serves them values (see
    /// [`ConnectConfig::peer_transfer`]).
    peer: OnceLock<PeerAddress>,
    /// Workers this one could not pull from, and when: values from them come through the
    /// client for a while ([`UNREACHABLE_FOR`]).
    unreachable: Mutex<Vec<(SocketAddr, Instant)>>,
}

/// How long values between two workers go through the client after one could not pull from
/// the other, before a pull is tried again (a network that heals, a worker that restarted).
const UNREACHABLE_FOR: Duration = Duration::from_secs(30);

/// How another worker reaches a worker: its address and certificate, as the client saw them.
#[derive(Debug, Clone)]
pub(crate) struct PeerAddress {
    addr: SocketAddr,
    certificate: Bytes,
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

fn connect_error(
    addr: SocketAddr,
) -> impl Fn(Box<dyn std::error::Error + Send + Sync>) -> ClientError {
    move |source| ClientError::Connect { addr, source }
}

impl Link {
    /// A link whose messages go to `outgoing` and whose connection `close` closes; replies
    /// come in through [`deliver`](Self::deliver), and [`lost`](Self::lost) ends it.
    pub(crate) fn new(
        id: WorkerId,
        slots: u32,
        outgoing: mpsc::UnboundedSender<ClientMessage>,
        close: Closer,
        metrics: Arc<Metrics>,
        limits: Limits,
    ) -> Arc<Link> {
        let link = Arc::new(Link {
            id,
            slots,
            close_connection: close,
            outgoing,
            pending: Mutex::new(InFlight::new(limits.max_value)),
            alive: AtomicBool::new(true),
            outstanding: AtomicUsize::new(0),
            metrics,
            task_time_ns: AtomicU64::new(INITIAL_TASK_TIME.as_nanos() as u64),
            scattered: AtomicU64::new(0),
            limits,
            ended: CancellationToken::new(),
            draining: AtomicBool::new(false),
            peer: OnceLock::new(),
            unreachable: Mutex::new(Vec::new()),
        });
        link.metrics.on_worker_up(link.id, slots);
        link
    }

    /// Connects, proves who we are, and starts the tasks that move this link's frames; all of
    /// it within one timeout.
    pub(crate) async fn connect(
        endpoint: &quinn::Endpoint,
        client_config: quinn::ClientConfig,
        id: WorkerId,
        config: &ConnectConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Link>, ClientError> {
        let addr = id.addr();
        tokio::time::timeout(
            config.connect_timeout,
            Self::dial(endpoint, client_config, id, config, metrics),
        )
        .await
        .map_err(|_| ClientError::HandshakeTimeout { addr })?
    }

    async fn dial(
        endpoint: &quinn::Endpoint,
        client_config: quinn::ClientConfig,
        id: WorkerId,
        config: &ConnectConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Link>, ClientError> {
        let addr = id.addr();
        let max_frame = config.max_frame;
        let failed = connect_error(addr);
        let connection = endpoint
            .connect_with(client_config, addr, &config.server_name)
            .map_err(|e| failed(e.into()))?
            .await
            .map_err(|e| failed(e.into()))?;
        let (mut send, recv) = connection.open_bi().await.map_err(|e| failed(e.into()))?;
        let proof = match &config.auth {
            ClientAuth::Secret(secret) => {
                Some(transport::proof(&connection, secret).map_err(|e| failed(e.into()))?)
            }
            ClientAuth::Certificate(_) => None,
        };
        let hello = Hello {
            version: PROTOCOL_VERSION,
            proof,
            functions: registry::functions(),
        };
        let handshake = |source: StreamError| ClientError::Handshake {
            addr,
            source: source.into(),
        };
        write_message(&mut send, &hello, max_frame)
            .await
            .map_err(handshake)?;
        // The worker's answer to the hello is small; only then may frames be as large as values'
        // pieces need.
        let mut reader = MessageReader::new(recv, MAX_HELLO.min(max_frame));
        let slots = match reader.next::<HelloReply>().await.map_err(handshake)? {
            Some(HelloReply::Welcome { slots }) => slots,
            Some(HelloReply::Refused(refusal)) => {
                return Err(ClientError::Refused { addr, refusal });
            }
            // The worker closed without a word: most likely it refused our certificate.
            None => return Err(ClientError::HandshakeClosed { addr }),
        };
        // Replies are values' pieces, small inline results and messages: nothing a worker sends
        // needs a frame of much more than a piece, so a broken one cannot make the client
        // decode a huge one.
        let replies = (config.limits.piece + 4 * config.limits.inline).max(MIN_REPLY_FRAME);
        reader.set_max_frame(replies.min(max_frame));
        let (outgoing, writer) = spawn_writer::<ClientMessage>(send, max_frame, merge_releases);
        let closing = connection.clone();
        let close: Closer = Box::new(move || closing.close(0u32.into(), b"client closed"));
        let link = Link::new(id, slots, outgoing, close, metrics, config.limits);
        // Workers that take clients by certificate serve no peers (a peer has none to show).
        if config.peer_transfer && matches!(config.auth, ClientAuth::Secret(_)) {
            let certificate = connection
                .peer_identity()
                .and_then(|identity| {
                    identity
                        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
                        .ok()
                })
                .and_then(|chain| chain.first().map(|cert| Bytes::copy_from_slice(cert)));
            if let Some(certificate) = certificate {
                let _ = link.peer.set(PeerAddress { addr, certificate });
            }
        }
        if let Some(timeout) = config.request_timeout {
            link.watch_deadlines(timeout);
        }
        tokio::spawn(read_replies(Arc::clone(&link), reader, writer));
        Ok(link)
    }

    /// Gives up on this worker once a request has waited `timeout` for its answer: the link is
    /// closed, and its requests fail as lost, so their items are made again elsewhere.
    pub(crate) fn watch_deadlines(self: &Arc<Self>, timeout: Duration) {
        let link = Arc::downgrade(self);
        let every = (timeout / 8).clamp(Duration::from_millis(10), Duration::from_secs(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(link) = link.upgrade() else { break };
                if !link.is_alive() {
                    break;
                }
                let now = tokio::time::Instant::now().into_std();
                let overdue = link.pending().expire(now, timeout);
                if !overdue.is_empty() {
                    info!(worker = %link.id, overdue = overdue.len(), ?timeout, "a request is overdue: giving up on the worker");
                    for (_, waiter) in overdue {
                        let error = TaskError::new(
                            TaskErrorKind::WorkerLost,
                            format!("{} did not answer within {timeout:?}", link.id),
                        );
                        link.fail(waiter, error);
                    }
                    link.close();
                    break;
                }
            }
        });
    }

    fn pending(&self) -> MutexGuard<'_, InFlight<Waiter>> {
        // Every change under the lock is one call on the table; a panic cannot leave it
        // half-done.
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends a request; the receiver gets the worker's response, or the error that lost it.
    pub(crate) fn request(&self, request: Request) -> oneshot::Receiver<Answer> {
        let (answer, rx) = oneshot::channel();
        self.send_request(request, Answerer::Channel(answer), Vec::new());
        rx
    }

    /// Sends a request whose response goes to `answer`. Once a task's reply brings its
    /// `outputs`' bytes, their lineage is replaced by the bytes there and then, which lets go
    /// of the task's inputs: chains of inputs (an accumulation's states) end as soon as they
    /// can, with no task waiting to do it.
    pub(crate) fn send_request(
        &self,
        request: Request,
        answer: Answerer,
        outputs: Vec<Weak<Value>>,
    ) {
        let recorded = self.metrics.on_request(self.id, &request);
        let is_pull = matches!(request, Request::Pull { .. });
        let task_sent =
            matches!(request, Request::Submit(_) | Request::SubmitWith { .. }).then(Instant::now);
        let waiter = Waiter {
            answer,
            recorded,
            task_sent,
            outputs,
        };
        // Insert and send under the lock: a reply cannot overtake its entry, and a link closed
        // meanwhile either refuses the entry here or drains it in `fail_all`.
        // A pull also waits on the worker it pulls from, within the puller's own bounds: a
        // slow holder is no reason to give up on this worker.
        let grace = if is_pull { PULL_GRACE } else { Duration::ZERO };
        let mut pending = self.pending();
        match pending.insert_with_grace(waiter, tokio::time::Instant::now().into_std(), grace) {
            Ok(id) => {
                self.outstanding.fetch_add(1, Ordering::Relaxed);
                let sent = self.outgoing.send(ClientMessage::Request { id, request });
                drop(pending);
                if sent.is_err() {
                    self.fail_all();
                }
            }
            Err(waiter) => {
                drop(pending);
                self.fail(waiter, TaskError::worker_lost(self.id));
            }
        }
    }

    /// Sends a value to keep under `key` (in pieces if it is large). There is no reply: the
    /// caller keeps the bytes too.
    pub(crate) fn scatter(&self, key: Key, value: Bytes) {
        if !self.is_alive() {
            return;
        }
        self.metrics.on_scatter(self.id, key, value.len());
        // A closed writer means a lost worker, which the tasks on this value will notice.
        let Some(cut) = pieces(&value, self.limits.piece) else {
            let _ = self.outgoing.send(ClientMessage::Scatter { key, value });
            return;
        };
        let total = value.len() as u64;
        for (offset, chunk) in cut {
            let _ = self.outgoing.send(ClientMessage::ScatterPart {
                key,
                total,
                offset,
                chunk,
            });
        }
    }

    /// Counts a value placed here, whether its bytes go now or later, with its first task
    /// (placement's round-robin among equals counts it as scattered).
    pub(crate) fn note_placed(&self) {
        self.scattered.fetch_add(1, Ordering::Relaxed);
        self.metrics.on_placed();
    }

    /// The largest value that travels along with a task rather than scattered first: one
    /// piece, so the task's frame stays within what a worker reads.
    pub(crate) fn max_along(&self) -> usize {
        self.limits.piece
    }

    /// Says that other workers reach this one at `addr`, where it shows `certificate`: values
    /// may move to and from it worker to worker. (Set by [`connect`](Self::connect) for a
    /// worker that serves peers, and by the simulation for its workers.)
    pub(crate) fn serve_peers(&self, addr: SocketAddr, certificate: Bytes) {
        let _ = self.peer.set(PeerAddress { addr, certificate });
    }

    /// Lets another worker that presents `token` take the value under `key` from this one.
    pub(crate) fn grant(&self, key: Key, token: Token) {
        if self.is_alive() {
            let _ = self.outgoing.send(ClientMessage::Grant { key, token });
        }
    }

    /// Where the value granted with `token` is, for a worker to pull it: `None` unless this
    /// worker serves peers.
    pub(crate) fn holder(&self, token: Token) -> Option<Holder> {
        let peer = self.peer.get()?;
        Some(Holder {
            addr: peer.addr,
            certificate: peer.certificate.clone(),
            token,
        })
    }

    /// Whether this worker may pull values from `holder` (both serve peers, and this one has
    /// not failed to reach it).
    pub(crate) fn can_pull_from(&self, holder: &Link) -> bool {
        let (Some(_), Some(there)) = (self.peer.get(), holder.peer.get()) else {
            return false;
        };
        let mut unreachable = lock(&self.unreachable);
        unreachable.retain(|(_, since)| since.elapsed() < UNREACHABLE_FOR);
        !unreachable.iter().any(|(addr, _)| *addr == there.addr)
    }

    /// Notes that this worker could not pull from `holder`: for a while, values between
    /// them go through the client.
    pub(crate) fn cannot_pull_from(&self, holder: &Link) {
        if let Some(there) = holder.peer.get() {
            let mut unreachable = lock(&self.unreachable);
            unreachable.retain(|(addr, _)| *addr != there.addr);
            unreachable.push((there.addr, Instant::now()));
        }
    }

    /// Tells the worker this value is no longer needed.
    pub(crate) fn release(&self, key: Key) {
        if self.is_alive() {
            self.metrics.on_release(self.id, key);
            // A closed writer means a closed connection, which frees everything anyway.
            let _ = self.outgoing.send(ClientMessage::Release(vec![key]));
        }
    }

    /// The largest value this link sends or takes.
    pub(crate) fn max_value(&self) -> u64 {
        self.limits.max_value
    }

    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// What placement knows of this worker.
    pub(crate) fn load(&self) -> Load {
        Load {
            outstanding: self.outstanding(),
            task_time_ns: self.task_time_ns.load(Ordering::Relaxed),
            scattered: self.scattered.load(Ordering::Relaxed),
        }
    }

    fn record_task_time(&self, sample: Duration) {
        let old = self.task_time_ns.load(Ordering::Relaxed);
        self.task_time_ns
            .store(Load::next_task_time(old, sample), Ordering::Relaxed);
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Placement sends this worker nothing new from now on (its address left the name it was
    /// discovered by); what it has in flight goes on.
    pub(crate) fn set_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether the link is draining: alive or not, it takes no new work.
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Takes one reply from the worker. A reply that cannot be one (an unknown request, pieces
    /// that do not fit) means the worker is broken: the link is closed.
    pub(crate) fn deliver(&self, reply: Reply) {
        let taken = self.pending().on_reply(reply);
        match taken {
            Ok(Some((waiter, answer))) => {
                self.outstanding.fetch_sub(1, Ordering::Relaxed);
                if let Some(sent) = waiter.task_sent {
                    self.record_task_time(sent.elapsed());
                }
                let answer = answer.map_err(|AnswerError::ValueTooLarge { len, max }| {
                    TaskError::new(
                        TaskErrorKind::ValueTooLarge,
                        format!("{} sent a value of {len} bytes, over the client's limit of {max} bytes", self.id),
                    )
                });
                self.metrics
                    .on_response(self.id, waiter.recorded, answer.as_ref().ok());
                for output in waiter.outputs.iter().filter_map(Weak::upgrade) {
                    if let Ok(Response::Done { values, .. }) = &answer {
                        output.compact_with(values);
                    }
                    output.answered();
                }
                waiter.answer.send(answer);
            }
            Ok(None) => {}
            Err(broken) => {
                warn!(worker = %self.id, %broken, "closing the link to a broken worker");
                self.close();
            }
        }
    }

    /// The connection is gone: every waiting request fails as lost.
    pub(crate) fn lost(&self) {
        self.fail_all();
    }

    /// Marks the link dead and answers every waiting request with a lost-worker error.
    fn fail_all(&self) {
        let drained = {
            let mut pending = self.pending();
            let first = !pending.is_closed();
            let drained = pending.close();
            self.alive.store(false, Ordering::Release);
            self.outstanding.store(0, Ordering::Relaxed);
            if first {
                self.metrics.on_worker_lost(self.id);
            }
            drained
        };
        for (_, waiter) in drained {
            self.fail(waiter, TaskError::worker_lost(self.id));
        }
        self.ended.cancel();
    }

    /// Answers a request that will get no reply with `error`, and tells the metrics.
    fn fail(&self, waiter: Waiter, error: TaskError) {
        self.metrics.on_response(self.id, waiter.recorded, None);
        for output in waiter.outputs.iter().filter_map(Weak::upgrade) {
            output.answered();
        }
        waiter.answer.send(Err(error));
    }

    /// Resolves once the link is dead.
    pub(crate) fn ended(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.ended.clone().cancelled_owned()
    }

    /// Closes the connection (its values on the worker are freed with it).
    pub(crate) fn close(&self) {
        (self.close_connection)();
        self.fail_all();
    }
}

async fn read_replies(
    link: Arc<Link>,
    mut reader: MessageReader,
    writer: tokio::task::JoinHandle<Result<(), StreamError>>,
) {
    loop {
        match reader.next::<Reply>().await {
            Ok(Some(reply)) => link.deliver(reply),
            // The worker finished its side: it shut down cleanly.
            Ok(None) => {
                info!(worker = %link.id, "worker left");
                break;
            }
            // This client closed the link: nothing was lost.
            Err(error) if !link.is_alive() || closed_here(&error) => {
                debug!(worker = %link.id, %error, "link closed");
                break;
            }
            // The worker closed the connection, saying why (it shut down, or refused us).
            Err(StreamError::Read(quinn::ReadError::ConnectionLost(
                quinn::ConnectionError::ApplicationClosed(close),
            ))) => {
                let reason = String::from_utf8_lossy(&close.reason);
                info!(worker = %link.id, %reason, "worker left");
                break;
            }
            Err(error) => {
                info!(worker = %link.id, %error, "lost worker");
                break;
            }
        }
        if !link.is_alive() {
            break;
        }
    }
    writer.abort();
    // Close the connection too: after a bad frame the worker may still be there.
    link.close();
}

/// Whether reading failed because this side closed the connection.
fn closed_here(error: &StreamError) -> bool {
    matches!(
        error,
        StreamError::Read(quinn::ReadError::ConnectionLost(
            quinn::ConnectionError::LocallyClosed
        ))
    )
}
