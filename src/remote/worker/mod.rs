//! Workers: QUIC endpoints that keep values under keys and run registered functions on task slots.
//!
//! Three ways to run one: in-process, behind [`Client::local`](crate::Client::local) (each
//! [`Worker::spawn`] gets its own thread and runtime); as a child process of the current binary
//! ([`run_if_worker`], used by `Client::builder().processes(true)`); or standalone with
//! [`serve`], or from the command line with [`main_with`] and [`Args`] (`examples/worker.rs`).
//!
//! A worker whose clients prove a shared secret also serves other workers the values its clients
//! grant them, and pulls from them the values its clients ask it to (worker-to-worker transfer:
//! the rules are [`proto::Grants`](crate::remote::proto::Grants) and the session's; the bytes
//! move in `peer`).

mod cli;
mod connection;
mod peer;
mod process;
mod slots;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

pub use self::cli::{Args, main_with};
use self::peer::Peers;
pub(crate) use self::peer::{GRANT_WAIT, GrantBoard};
pub(crate) use self::process::exit_if_worker_without_entry;
pub use self::process::{SpawnError, WORKER_ENV, WorkerProcess, run_if_worker};
use self::slots::SlotPool;
use crate::remote::obs::WorkerStats;
use crate::remote::proto::{DEFAULT_MAX_FRAME, Limits};
use crate::remote::transport::{self, Identity, TlsError, TransportSettings, Trust};
use crate::util::lock;

/// QUIC application error codes a worker closes connections with.
mod close_code {
    pub(super) const SHUTDOWN: u32 = 0;
    pub(super) const REFUSED: u32 = 1;
    pub(super) const PROTOCOL: u32 = 2;
}

/// How a worker tells its clients from strangers.
#[derive(Debug, Clone)]
pub enum WorkerAuth {
    /// Clients prove they know this secret (without sending it; see [`transport::proof`]).
    Secret(Vec<u8>),
    /// Clients present a certificate issued by this CA during the TLS handshake.
    ClientCertificates(Trust),
}

/// Everything a worker needs to serve.
///
/// ```
/// use rivulet::worker::{WorkerAuth, WorkerConfig};
/// use rivulet::remote::transport::Identity;
///
/// let identity = Identity::self_signed(vec!["localhost".into()]).unwrap();
/// let config = WorkerConfig::new(identity, WorkerAuth::Secret(b"s3cret".to_vec())).slots(4);
/// assert_eq!(config.slots, 4);
/// ```
#[derive(Debug)]
pub struct WorkerConfig {
    /// Where to listen; port 0 picks a free port. Default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// How many tasks run at once, each on a thread of its own. Default: the machine's cores.
    pub slots: usize,
    /// The worker's certificate chain and key.
    pub identity: Identity,
    /// How clients authenticate.
    pub auth: WorkerAuth,
    /// Keep-alive, idle timeout and stream limits.
    pub transport: TransportSettings,
    /// The largest frame accepted or sent.
    pub max_frame: usize,
    /// The largest value kept, and the pieces larger values travel in.
    pub limits: Limits,
    /// How many connections and handshakes it takes at once.
    pub admission: Admission,
    /// How long a client's frame may take once its first byte has come, and how long a new
    /// connection may take to say hello. Default 30 s and 5 s.
    pub timeouts: WorkerTimeouts,
    /// The bytes of values the worker keeps for all its clients together; past 80 % of it
    /// the worker refuses new values and tasks (typed `Overloaded`) until some are released.
    /// Default `None`: only the per-client [`Limits::max_bytes_held`] applies.
    pub memory_limit: Option<u64>,
}

/// How long a worker waits for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerTimeouts {
    /// A new connection must open its stream and send its hello within this. Default 5 s.
    pub hello: Duration,
    /// A frame must be whole this long after its first byte came. Default 30 s.
    pub frame: Duration,
}

impl Default for WorkerTimeouts {
    fn default() -> Self {
        WorkerTimeouts {
            hello: Duration::from_secs(5),
            frame: Duration::from_secs(30),
        }
    }
}

impl WorkerConfig {
    /// A configuration with the defaults listed on each field.
    pub fn new(identity: Identity, auth: WorkerAuth) -> Self {
        WorkerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            slots: default_slots(),
            identity,
            auth,
            transport: TransportSettings::default(),
            max_frame: DEFAULT_MAX_FRAME,
            limits: Limits::default(),
            admission: Admission::default(),
            timeouts: WorkerTimeouts::default(),
            memory_limit: None,
        }
    }

    /// Sets the number of task slots.
    ///
    /// # Panics
    /// If `slots` is 0.
    pub fn slots(mut self, slots: usize) -> Self {
        crate::util::assert_nonzero(slots, "WorkerConfig::slots", "slots");
        self.slots = slots;
        self
    }

    /// Sets the address to listen on.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }
}

/// The default number of task slots: the machine's available parallelism.
pub fn default_slots() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// What can stop a worker from starting or serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The TLS configuration could not be built.
    #[error("worker TLS set-up failed: {0}")]
    Tls(#[from] TlsError),
    /// The listening socket could not be opened.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The worker's thread or runtime could not be started.
    #[error("could not start the worker's runtime: {0}")]
    Runtime(std::io::Error),
}

/// A worker running on a thread of its own, with its own tokio runtime.
///
/// Dropping it closes its connections at once and lets its thread end on its own (a drop never
/// waits); [`shutdown`](Self::shutdown) does the same and waits, without blocking, until the
/// thread has ended.
///
/// ```
/// use rivulet::worker::{Worker, WorkerAuth, WorkerConfig};
/// use rivulet::remote::transport::Identity;
///
/// let identity = Identity::self_signed(vec!["localhost".into()]).unwrap();
/// let worker = Worker::spawn(WorkerConfig::new(identity, WorkerAuth::Secret(vec![7; 32])).slots(2))
///     .unwrap();
/// assert!(worker.local_addr().ip().is_loopback());
/// # tokio::runtime::Runtime::new().unwrap().block_on(async move {
/// worker.shutdown().await;
/// # });
/// ```
#[derive(Debug)]
pub struct Worker {
    addr: SocketAddr,
    endpoint: quinn::Endpoint,
    /// Resolves (with an error: its sender is dropped) when the worker's thread ends.
    stopped: oneshot::Receiver<()>,
}

impl Worker {
    /// Starts a worker on a new thread and returns once it listens.
    pub fn spawn(config: WorkerConfig) -> Result<Worker, WorkerError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("rivulet-worker")
            .build()
            .map_err(WorkerError::Runtime)?;
        let endpoint = {
            let _guard = runtime.enter();
            bind(&config)?
        };
        let addr = endpoint.local_addr().map_err(|source| WorkerError::Bind {
            addr: config.listen,
            source,
        })?;
        let serving = endpoint.clone();
        let shared = WorkerShared::new(config)?;
        let (on_stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("rivulet-worker-{addr}"))
            .spawn(move || {
                let _on_stop = on_stop;
                runtime.block_on(serve_on(serving, shared));
            })
            .map_err(WorkerError::Runtime)?;
        Ok(Worker {
            addr,
            endpoint,
            stopped,
        })
    }

    /// The address the worker listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every connection at once (clients see the worker as lost) and waits until the
    /// worker's thread has ended, without blocking the caller's thread.
    pub async fn shutdown(mut self) {
        self.close();
        // The sender goes when the thread ends, whether it returned or panicked.
        let _ = (&mut self.stopped).await;
    }

    fn close(&self) {
        self.endpoint
            .close(close_code::SHUTDOWN.into(), b"worker shut down");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // The serve loop ends by itself once the endpoint is closed; never wait for it here.
        self.close();
    }
}

/// Serves on the current tokio runtime until the process ends (see [`serve_until`] to stop).
///
/// ```no_run
/// use rivulet::worker::{serve, WorkerAuth, WorkerConfig};
/// use rivulet::remote::transport::Identity;
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let identity = Identity::from_pem_files("worker.pem", "worker.key.pem")?;
/// let config = WorkerConfig::new(identity, WorkerAuth::Secret(b"s3cret".to_vec()))
///     .listen("0.0.0.0:7878".parse()?);
/// serve(config).await?;
/// # Ok(())
/// # }
/// ```
pub async fn serve(config: WorkerConfig) -> Result<(), WorkerError> {
    serve_until(config, std::future::pending()).await
}

/// Serves until `shutdown` resolves, then stops gracefully: it takes no new connection, lets the
/// requests it has (the tasks it is running) finish and their replies go out, and then closes.
///
/// ```no_run
/// use rivulet::worker::{serve_until, WorkerAuth, WorkerConfig};
/// use rivulet::remote::transport::Identity;
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let identity = Identity::self_signed(vec!["localhost".to_owned()])?;
/// let config = WorkerConfig::new(identity, WorkerAuth::Secret(b"s3cret".to_vec()));
/// serve_until(config, async { let _ = tokio::signal::ctrl_c().await; }).await?;
/// # Ok(())
/// # }
/// ```
pub async fn serve_until(
    config: WorkerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), WorkerError> {
    let endpoint = bind(&config)?;
    let shared = WorkerShared::new(config)?;
    run_until(endpoint, shared, shutdown).await;
    Ok(())
}

/// Serves on `endpoint` until `shutdown` resolves, then drains as [`serve_until`] says.
async fn run_until(
    endpoint: quinn::Endpoint,
    shared: Arc<WorkerShared>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    run_until_drained(endpoint, shared, shutdown, DRAIN_TIMEOUT, || {}, || {}).await;
}

/// [`run_until`] with its drain timeout, `on_serving` called once the worker counts as
/// serving (`/healthz` ready) and `on_drain` as the drain starts (the command line's).
async fn run_until_drained(
    endpoint: quinn::Endpoint,
    shared: Arc<WorkerShared>,
    shutdown: impl std::future::Future<Output = ()>,
    drain_timeout: Duration,
    on_serving: impl FnOnce(),
    on_drain: impl FnOnce(),
) {
    let _serving = WorkerStats::global().serving(shared.slot_count);
    shared.peers.set_endpoint(&endpoint);
    on_serving();
    tokio::select! {
        () = accept_loop(&endpoint, &shared) => {}
        () = shutdown => {}
    }
    // `/healthz` says so from now on.
    let _draining = WorkerStats::global().draining();
    on_drain();
    endpoint.set_server_config(None);
    // Every connection stops reading, finishes its tasks, and sends their replies.
    shared.drain.cancel();
    shared.connections.close();
    if tokio::time::timeout(drain_timeout, shared.connections.wait())
        .await
        .is_err()
    {
        debug!("connections still busy after the drain timeout; closing them");
    }
    endpoint.close(close_code::SHUTDOWN.into(), b"worker shut down");
    endpoint.wait_idle().await;
}

/// Opens the worker's endpoint (needs a runtime context).
pub(crate) fn bind(config: &WorkerConfig) -> Result<quinn::Endpoint, WorkerError> {
    let client_auth = match &config.auth {
        WorkerAuth::Secret(_) => None,
        WorkerAuth::ClientCertificates(ca) => Some(ca),
    };
    let server = transport::server_config(&config.identity, client_auth, &config.transport)?;
    quinn::Endpoint::server(server, config.listen).map_err(|source| WorkerError::Bind {
        addr: config.listen,
        source,
    })
}

/// Counts a handshake in progress for as long as it lives.
struct Handshaking(Arc<WorkerShared>);

impl Handshaking {
    fn new(shared: &Arc<WorkerShared>) -> Self {
        shared.handshaking.fetch_add(1, Ordering::AcqRel);
        Handshaking(Arc::clone(shared))
    }
}

impl Drop for Handshaking {
    fn drop(&mut self) {
        self.0.handshaking.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How many connections a worker takes, before any of them has proven anything.
///
/// ```
/// use rivulet::worker::Admission;
///
/// let admission = Admission { max_connections: 64, ..Admission::default() };
/// assert!(admission.max_handshakes <= admission.max_connections);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Connections served at once, handshakes included; more are refused. Default 256.
    pub max_connections: usize,
    /// TLS handshakes in progress at once; past this a new peer must first prove its address
    /// (a QUIC retry), and one that has is refused. Default 32.
    pub max_handshakes: usize,
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            max_connections: 256,
            max_handshakes: 32,
        }
    }
}

/// What every connection of a worker shares.
struct WorkerShared {
    slots: SlotPool,
    slot_count: usize,
    auth: WorkerAuth,
    max_frame: usize,
    limits: Limits,
    /// Cancelled when the worker stops: connections read no more and finish their tasks.
    drain: CancellationToken,
    /// The connections being served, waited for when the worker stops.
    connections: TaskTracker,
    admission: Admission,
    timeouts: WorkerTimeouts,
    memory_limit: Option<u64>,
    /// The bytes of values held for every client together.
    bytes_held: std::sync::atomic::AtomicU64,
    /// TLS handshakes in progress.
    handshaking: AtomicUsize,
    /// Values granted to other workers, and the connections to pull from them.
    peers: Peers,
}

impl WorkerShared {
    /// Why new work is refused now, if it is: the values held for every client are past 80 %
    /// of the worker's memory limit.
    fn pause_reason(&self) -> Option<String> {
        let limit = self.memory_limit?;
        let held = self.bytes_held.load(Ordering::Acquire);
        (held >= limit / 5 * 4).then(|| {
            format!("the worker holds {held} bytes, past 80% of its memory limit of {limit} bytes")
        })
    }

    fn new(config: WorkerConfig) -> Result<Arc<Self>, WorkerError> {
        Ok(Arc::new(WorkerShared {
            slots: SlotPool::start(config.slots).map_err(WorkerError::Runtime)?,
            slot_count: config.slots,
            auth: config.auth,
            max_frame: config.max_frame,
            limits: config.limits,
            drain: CancellationToken::new(),
            connections: TaskTracker::new(),
            admission: config.admission,
            timeouts: config.timeouts,
            memory_limit: config.memory_limit,
            bytes_held: std::sync::atomic::AtomicU64::new(0),
            handshaking: AtomicUsize::new(0),
            peers: Peers::new(config.transport),
        }))
    }
}

/// The longest a stopping worker waits for its running requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

async fn serve_on(endpoint: quinn::Endpoint, shared: Arc<WorkerShared>) {
    let _serving = WorkerStats::global().serving(shared.slot_count);
    shared.peers.set_endpoint(&endpoint);
    accept_loop(&endpoint, &shared).await;
    endpoint.wait_idle().await;
}

async fn accept_loop(endpoint: &quinn::Endpoint, shared: &Arc<WorkerShared>) {
    while let Some(incoming) = endpoint.accept().await {
        let remote = incoming.remote_address();
        // Admission, before any handshake work: a stranger gets no more than a refusal once
        // the worker is full, and must prove its address (a retry) once handshakes pile up.
        if shared.connections.len() >= shared.admission.max_connections {
            debug!(%remote, "refusing a connection: the worker has as many as it takes");
            incoming.refuse();
            continue;
        }
        // Past the handshake cap a peer must first prove it owns its address (answer a QUIC
        // retry), which a flood of forged or abandoned attempts does not; one that has is let
        // through, up to the connection cap, so clients still get in during such a flood.
        let handshaking = shared.handshaking.load(Ordering::Acquire);
        if handshaking >= shared.admission.max_handshakes && !incoming.remote_address_validated() {
            if incoming.may_retry() {
                let _ = incoming.retry();
            } else {
                incoming.refuse();
            }
            continue;
        }
        let serving = Arc::clone(shared);
        shared.connections.spawn(async move {
            let remote = incoming.remote_address();
            let handshake = Handshaking::new(&serving);
            let connected = incoming.await;
            drop(handshake);
            match connected {
                Ok(connection) if is_peer(&connection) => {
                    peer::serve_peer(connection, serving).await;
                }
                Ok(connection) => connection::serve_connection(connection, serving).await,
                Err(error) => debug!(%remote, %error, "handshake failed"),
            }
        });
    }
}

/// Whether a connection is another worker's (it negotiated [`PEER_ALPN`](crate::remote::proto::PEER_ALPN)),
/// rather than a client's.
fn is_peer(connection: &quinn::Connection) -> bool {
    connection
        .handshake_data()
        .and_then(|data| data.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .is_some_and(|data| data.protocol.as_deref() == Some(crate::remote::proto::PEER_ALPN))
}
