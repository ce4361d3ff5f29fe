//! Workers: QUIC endpoints that keep values under keys and run registered functions on task slots.
//!
//! Three ways to run one: in-process, behind [`Client::local`](crate::Client::local) (each
//! [`Worker::spawn`] gets its own thread and runtime); as a child process of the current binary
//! ([`run_if_worker`], used by `Client::builder().processes(true)`); or standalone with
//! [`serve`], which `examples/worker.rs` wraps in a command line.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::sync::{Semaphore, mpsc};
use tracing::{debug, warn};

use crate::remote::auth;
use crate::remote::pipe::{FrameReader, spawn_writer};
use crate::remote::protocol::{
    ClientMessage, Hello, HelloReply, Key, PROTOCOL_VERSION, Refusal, Reply, Request, Response,
    Task, TaskKind,
};
use crate::remote::registry;
use crate::remote::tls::{self, Identity, TransportSettings, Trust};
use crate::remote::wire::write_message;
use crate::remote::worker_stats::WorkerStats;

/// The largest result sent along with a task's reply; larger ones wait for a fetch, so that
/// values that stay on the worker for the next task are not copied back for nothing.
const INLINE_LIMIT: usize = 64 * 1024;

/// How long a new connection may take to say [`Hello`].
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// QUIC application error codes a worker closes connections with.
mod close_code {
    pub(super) const SHUTDOWN: u32 = 0;
    pub(super) const REFUSED: u32 = 1;
    pub(super) const PROTOCOL: u32 = 2;
}

/// How a worker tells its clients from strangers.
#[derive(Debug, Clone)]
pub enum WorkerAuth {
    /// Clients prove they know this secret (without sending it; see [`auth`]).
    Secret(Vec<u8>),
    /// Clients present a certificate issued by this CA during the TLS handshake.
    ClientCertificates(Trust),
}

/// Everything a worker needs to serve.
///
/// ```
/// use rivulet::worker::{WorkerAuth, WorkerConfig};
/// use rivulet::remote::tls::Identity;
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
            max_frame: crate::remote::frame::DEFAULT_MAX_FRAME,
        }
    }

    /// Sets the number of task slots.
    ///
    /// # Panics
    /// If `slots` is 0.
    pub fn slots(mut self, slots: usize) -> Self {
        crate::ops::assert_nonzero(slots, "WorkerConfig::slots", "slots");
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
    Tls(#[from] tls::TlsError),
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

/// A worker running on a thread of its own, with its own tokio runtime; shut down on drop.
///
/// ```
/// use rivulet::worker::{Worker, WorkerAuth, WorkerConfig};
/// use rivulet::remote::tls::Identity;
///
/// let identity = Identity::self_signed(vec!["localhost".into()]).unwrap();
/// let worker = Worker::spawn(WorkerConfig::new(identity, WorkerAuth::Secret(vec![7; 32])).slots(2))
///     .unwrap();
/// assert!(worker.local_addr().ip().is_loopback());
/// worker.shutdown();
/// ```
#[derive(Debug)]
pub struct Worker {
    addr: SocketAddr,
    endpoint: quinn::Endpoint,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    /// Starts a worker on a new thread and returns once it listens.
    pub fn spawn(config: WorkerConfig) -> Result<Worker, WorkerError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(config.slots + 1)
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
        let thread = std::thread::Builder::new()
            .name(format!("rivulet-worker-{addr}"))
            .spawn(move || runtime.block_on(serve_on(serving, config)))
            .map_err(WorkerError::Runtime)?;
        Ok(Worker {
            addr,
            endpoint,
            thread: Some(thread),
        })
    }

    /// The address the worker listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every connection at once (clients see the worker as lost) and waits for the thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.endpoint
            .close(close_code::SHUTDOWN.into(), b"worker shut down");
        if let Some(thread) = self.thread.take() {
            // The serve loop ends once the endpoint is closed; a panic there was already logged.
            let _ = thread.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves on the current tokio runtime until the process ends (see [`serve_until`] to stop).
///
/// ```no_run
/// use rivulet::worker::{serve, WorkerAuth, WorkerConfig};
/// use rivulet::remote::tls::Identity;
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
/// use rivulet::remote::tls::Identity;
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
    run_until(endpoint, config, shutdown).await;
    Ok(())
}

/// Serves on `endpoint` until `shutdown` resolves, then drains as [`serve_until`] says.
async fn run_until(
    endpoint: quinn::Endpoint,
    config: WorkerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let _serving = WorkerStats::global().serving(config.slots);
    let shared = WorkerShared::new(config);
    tokio::select! {
        () = accept_loop(&endpoint, &shared) => {}
        () = shutdown => {}
    }
    endpoint.set_server_config(None);
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    while shared.requests.load(std::sync::atomic::Ordering::Acquire) > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The last replies are queued; give the writers a moment to hand them to QUIC.
    tokio::time::sleep(Duration::from_millis(100)).await;
    endpoint.close(close_code::SHUTDOWN.into(), b"worker shut down");
    endpoint.wait_idle().await;
}

/// Opens the worker's endpoint (needs a runtime context).
pub(crate) fn bind(config: &WorkerConfig) -> Result<quinn::Endpoint, WorkerError> {
    let client_auth = match &config.auth {
        WorkerAuth::Secret(_) => None,
        WorkerAuth::ClientCertificates(ca) => Some(ca),
    };
    let server = tls::server_config(&config.identity, client_auth, &config.transport)?;
    quinn::Endpoint::server(server, config.listen).map_err(|source| WorkerError::Bind {
        addr: config.listen,
        source,
    })
}

/// What every connection of a worker shares.
struct WorkerShared {
    slots: Arc<Semaphore>,
    slot_count: usize,
    auth: WorkerAuth,
    max_frame: usize,
    /// Requests received and not answered yet, on every connection.
    requests: std::sync::atomic::AtomicUsize,
}

impl WorkerShared {
    fn new(config: WorkerConfig) -> Arc<Self> {
        Arc::new(WorkerShared {
            slots: Arc::new(Semaphore::new(config.slots)),
            slot_count: config.slots,
            auth: config.auth,
            max_frame: config.max_frame,
            requests: std::sync::atomic::AtomicUsize::new(0),
        })
    }
}

/// The longest a stopping worker waits for its running requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) async fn serve_on(endpoint: quinn::Endpoint, config: WorkerConfig) {
    let _serving = WorkerStats::global().serving(config.slots);
    let shared = WorkerShared::new(config);
    accept_loop(&endpoint, &shared).await;
    endpoint.wait_idle().await;
}

async fn accept_loop(endpoint: &quinn::Endpoint, shared: &Arc<WorkerShared>) {
    while let Some(incoming) = endpoint.accept().await {
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            match incoming.await {
                Ok(connection) => serve_connection(connection, shared).await,
                Err(error) => debug!(%remote, %error, "handshake failed"),
            }
        });
    }
}

/// Closes a connection whose peer broke the protocol, saying why in the log and on the wire.
fn violation(connection: &quinn::Connection, reason: &str) {
    warn!(remote = %connection.remote_address(), reason, "closing connection");
    connection.close(close_code::PROTOCOL.into(), reason.as_bytes());
}

async fn serve_connection(connection: quinn::Connection, shared: Arc<WorkerShared>) {
    let remote = connection.remote_address();
    let (mut send, recv) = match tokio::time::timeout(HELLO_TIMEOUT, connection.accept_bi()).await {
        Ok(Ok(streams)) => streams,
        Ok(Err(error)) => {
            debug!(%remote, %error, "connection ended before its first stream");
            return;
        }
        Err(_) => return violation(&connection, "no stream opened in time"),
    };
    let mut reader = FrameReader::new(recv, shared.max_frame);
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, reader.next::<Hello>()).await {
        Ok(Ok(Some(hello))) => hello,
        Ok(Ok(None)) => return violation(&connection, "stream ended before hello"),
        Ok(Err(error)) => return violation(&connection, &format!("bad hello: {error}")),
        Err(_) => return violation(&connection, "no hello in time"),
    };
    if let Some(refusal) = check_hello(&connection, &shared.auth, &hello) {
        warn!(%remote, ?refusal, "refusing client");
        let _ = write_message(&mut send, &HelloReply::Refused(refusal), shared.max_frame).await;
        let _ = send.finish();
        // Give the refusal a moment to arrive before the connection goes.
        let _ = tokio::time::timeout(Duration::from_secs(1), send.stopped()).await;
        connection.close(close_code::REFUSED.into(), b"refused");
        return;
    }
    let welcome = HelloReply::Welcome {
        slots: u32::try_from(shared.slot_count).unwrap_or(u32::MAX),
    };
    if let Err(error) = write_message(&mut send, &welcome, shared.max_frame).await {
        debug!(%remote, %error, "client went away during the handshake");
        return;
    }
    debug!(%remote, "client welcomed");
    let _connected = WorkerStats::global().connected();

    // One stream per connection: any further stream is a protocol violation.
    let guard = connection.clone();
    let stray_streams = tokio::spawn(async move {
        tokio::select! {
            _ = guard.accept_bi() => violation(&guard, "unexpected second stream"),
            _ = guard.accept_uni() => violation(&guard, "unexpected unidirectional stream"),
        }
    });

    let (replies, writer) = spawn_writer::<Reply>(send, shared.max_frame);
    let session = Session {
        store: Mutex::new(HashMap::new()),
        shared,
        replies,
    };
    loop {
        match reader.next::<ClientMessage>().await {
            Ok(Some(ClientMessage::Request { id, request })) => {
                if let Err(reason) = session.handle(id, request) {
                    violation(&connection, &reason);
                    break;
                }
            }
            Ok(Some(ClientMessage::Scatter { key, value })) => {
                if let Err(reason) = session.scatter(key, value) {
                    violation(&connection, &reason);
                    break;
                }
            }
            Ok(Some(ClientMessage::Release(keys))) => session.release(&keys),
            Ok(None) => break,
            Err(error) => {
                violation(&connection, &format!("bad frame: {error}"));
                break;
            }
        }
    }
    stray_streams.abort();
    WorkerStats::global().values_released(session.store().len());
    drop(session);
    // Let replies still being computed go out, unless the connection is gone.
    let _ = writer.await;
}

/// Why the client may not be served, if it may not.
fn check_hello(
    connection: &quinn::Connection,
    auth: &WorkerAuth,
    hello: &Hello,
) -> Option<Refusal> {
    if hello.version != PROTOCOL_VERSION {
        return Some(Refusal::Version {
            worker: PROTOCOL_VERSION,
            client: hello.version,
        });
    }
    let authenticated = match auth {
        WorkerAuth::Secret(secret) => hello
            .proof
            .as_ref()
            .is_some_and(|proof| auth::verify(connection, secret, proof)),
        // rustls already refused a client without a certificate from the CA.
        WorkerAuth::ClientCertificates(_) => connection.peer_identity().is_some(),
    };
    if !authenticated {
        return Some(Refusal::Unauthenticated);
    }
    let missing = registry::missing(&hello.functions);
    if !missing.is_empty() {
        return Some(Refusal::MissingFunctions(missing));
    }
    None
}

/// A value on its way: the outcome of a scatter (ready at once) or of a task.
type Slot = Shared<BoxFuture<'static, Outcome>>;
/// A value's bytes, or the message of the failure that took its place.
type Outcome = Result<Bytes, Arc<str>>;

/// What a finished task left.
#[derive(Clone)]
struct TaskOutput {
    values: Vec<Bytes>,
    verdict: Option<bool>,
}

/// One client's values and requests on this worker.
struct Session {
    store: Mutex<HashMap<Key, Slot>>,
    shared: Arc<WorkerShared>,
    replies: mpsc::UnboundedSender<Reply>,
}

impl Session {
    fn store(&self) -> MutexGuard<'_, HashMap<Key, Slot>> {
        // Only inserts and removes happen under the lock; a panic cannot leave it half-done.
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts on a request; an `Err` is a protocol violation that ends the connection.
    fn handle(&self, id: u64, request: Request) -> Result<(), String> {
        let replier = self.replier(id);
        match request {
            Request::Fetch { key } => {
                let slot = self.get(key)?;
                tokio::spawn(async move {
                    replier.send(match slot.await {
                        Ok(bytes) => Response::Value(bytes),
                        Err(message) => Response::Failed(message.to_string()),
                    });
                });
                Ok(())
            }
            Request::Submit(task) => self.submit(replier, task),
        }
    }

    fn submit(&self, replier: Replier, task: Task) -> Result<(), String> {
        let expected_outputs = match task.kind {
            TaskKind::Map | TaskKind::Zip => 1,
            TaskKind::Retain => 0,
            TaskKind::Accumulate => 2,
        };
        let expected_inputs = match task.kind {
            TaskKind::Map | TaskKind::Retain => 1,
            TaskKind::Zip | TaskKind::Accumulate => 2,
        };
        if task.outputs.len() != expected_outputs || task.inputs.len() != expected_inputs {
            return Err(format!(
                "{:?} task with wrong number of inputs or outputs",
                task.kind
            ));
        }
        let registration = match task.kind {
            TaskKind::Zip => None,
            _ => Some(
                registry::lookup(&task.function)
                    .ok_or_else(|| format!("unknown function `{}`", task.function))?,
            ),
        };
        let inputs = task
            .inputs
            .iter()
            .map(|key| self.get(*key))
            .collect::<Result<Vec<_>, _>>()?;
        {
            let store = self.store();
            if let Some(key) = task.outputs.iter().find(|key| store.contains_key(key)) {
                return Err(format!("key {key:?} is already in use"));
            }
        }
        let slots = Arc::clone(&self.shared.slots);
        let kind = task.kind;
        let params = task.params;
        let running = tokio::spawn(async move {
            let mut values = Vec::with_capacity(inputs.len());
            for input in inputs {
                values.push(input.await?);
            }
            match registration {
                None => Ok(TaskOutput {
                    values: vec![concat(&values)],
                    verdict: None,
                }),
                Some(registration) => run_on_slot(slots, registration, kind, params, values).await,
            }
        });
        let outcome: Shared<BoxFuture<'static, Result<TaskOutput, Arc<str>>>> = running
            .map(|joined| match joined {
                Ok(outcome) => outcome,
                Err(_) => Err(Arc::from("the task was aborted on the worker")),
            })
            .boxed()
            .shared();
        for (index, key) in task.outputs.iter().enumerate() {
            let output: Slot = outcome
                .clone()
                .map(move |outcome| outcome.map(|output| output.values[index].clone()))
                .boxed()
                .shared();
            self.insert(*key, output)?;
        }
        let reply_with_value = task.reply_with_value;
        tokio::spawn(async move {
            let response = match outcome.await {
                Ok(output) => Response::Done {
                    sizes: output.values.iter().map(|v| v.len() as u64).collect(),
                    verdict: output.verdict,
                    values: if reply_with_value {
                        let small = |v: &Bytes| (v.len() <= INLINE_LIMIT).then(|| v.clone());
                        output.values.iter().map(small).collect()
                    } else {
                        Vec::new()
                    },
                },
                Err(message) => Response::Failed(message.to_string()),
            };
            replier.send(response);
        });
        Ok(())
    }

    /// Keeps a scattered value; an `Err` (a key in use) is a protocol violation.
    fn scatter(&self, key: Key, value: Bytes) -> Result<(), String> {
        self.insert(key, futures::future::ready(Ok(value)).boxed().shared())
    }

    fn insert(&self, key: Key, slot: Slot) -> Result<(), String> {
        match self.store().entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => {
                Err(format!("key {key:?} is already in use"))
            }
            std::collections::hash_map::Entry::Vacant(vacant) => {
                vacant.insert(slot);
                WorkerStats::global().value_stored();
                Ok(())
            }
        }
    }

    fn get(&self, key: Key) -> Result<Slot, String> {
        self.store()
            .get(&key)
            .cloned()
            .ok_or_else(|| format!("unknown key {key:?}"))
    }

    fn release(&self, keys: &[Key]) {
        let mut store = self.store();
        for key in keys {
            if store.remove(key).is_some() {
                WorkerStats::global().values_released(1);
            }
        }
    }

    /// Counts a request in until its reply is sent (or it is dropped unanswered).
    fn replier(&self, id: u64) -> Replier {
        self.shared
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Replier {
            id,
            replies: self.replies.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The way back for one request's reply; while it exists the request counts as running.
struct Replier {
    id: u64,
    replies: mpsc::UnboundedSender<Reply>,
    shared: Arc<WorkerShared>,
}

impl Replier {
    fn send(self, response: Response) {
        // The writer is gone only when the connection is; the client then no longer waits.
        let _ = self.replies.send(Reply {
            id: self.id,
            response,
        });
    }
}

impl Drop for Replier {
    fn drop(&mut self) {
        self.shared
            .requests
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Runs a registered function on one of the worker's task slots (a blocking thread).
async fn run_on_slot(
    slots: Arc<Semaphore>,
    registration: &'static registry::Registration,
    kind: TaskKind,
    params: Bytes,
    inputs: Vec<Bytes>,
) -> Result<TaskOutput, Arc<str>> {
    let permit = slots
        .acquire_owned()
        .await
        .map_err(|_| Arc::<str>::from("the worker is shutting down"))?;
    let input = concat(&inputs);
    let span = tracing::debug_span!("task", function = registration.name(), ?kind);
    let ran = tokio::task::spawn_blocking(move || {
        let _slot = permit;
        let (_busy, _span) = (WorkerStats::global().busy(), span.entered());
        registration.run(&params, &input)
    })
    .await;
    WorkerStats::global().task_ran(registration.name(), matches!(ran, Ok(Ok(_))));
    let output = match ran {
        Ok(Ok(output)) => output,
        Ok(Err(failure)) => return Err(Arc::from(failure.to_string())),
        Err(_) => return Err(Arc::from("the task's thread was lost")),
    };
    match kind {
        TaskKind::Map | TaskKind::Zip => Ok(TaskOutput {
            values: vec![Bytes::from(output)],
            verdict: None,
        }),
        TaskKind::Retain => match postcard::from_bytes::<bool>(&output) {
            Ok(verdict) => Ok(TaskOutput {
                values: Vec::new(),
                verdict: Some(verdict),
            }),
            Err(_) => Err(Arc::from(format!(
                "`{}` does not return a bool, so it cannot be used by retain",
                registration.name()
            ))),
        },
        TaskKind::Accumulate => {
            let (state, emitted) = registration
                .split(&output)
                .map_err(|error| Arc::<str>::from(error.to_string()))?;
            Ok(TaskOutput {
                values: vec![
                    Bytes::copy_from_slice(state),
                    Bytes::copy_from_slice(emitted),
                ],
                verdict: None,
            })
        }
    }
}

/// The postcard encoding of a tuple is its fields' encodings back to back.
fn concat(values: &[Bytes]) -> Bytes {
    match values {
        [single] => single.clone(),
        _ => Bytes::from(values.concat()),
    }
}

/// The environment variable that turns this binary into a child-process worker.
pub const WORKER_ENV: &str = "RIVULET_WORKER";

/// What the parent tells a child-process worker, through [`WORKER_ENV`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct ChildSpec {
    pub(crate) slots: usize,
    pub(crate) secret: Vec<u8>,
    pub(crate) keep_alive: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_bidi_streams: u32,
}

impl ChildSpec {
    pub(crate) fn encode(&self) -> String {
        // Encoding a plain struct of integers and bytes cannot fail.
        hex(&postcard::to_allocvec(self).unwrap_or_default())
    }

    fn decode(text: &str) -> Option<ChildSpec> {
        postcard::from_bytes(&unhex(text)?).ok()
    }
}

/// The line a child-process worker prints once it listens.
const READY: &str = "RIVULET_WORKER_READY";

/// Becomes a child-process worker if this process was started as one (see
/// [`ClientBuilder::processes`](crate::remote::client::ClientBuilder::processes)), and
/// otherwise returns at once. A worker process serves until its parent goes away (its
/// standard input closes), then exits.
///
/// Call it first thing in `main` of a program whose client runs workers as processes, so that
/// nothing else runs in the workers; in a test binary, from the test the workers are started
/// with (`worker_args(["--exact", "that_test", "--nocapture"])`).
///
/// ```
/// # #[tokio::main]
/// # async fn main() {
/// rivulet::worker::run_if_worker(); // returns at once unless this process is a worker
/// // ... the program proper
/// # }
/// ```
pub fn run_if_worker() {
    let Ok(text) = std::env::var(WORKER_ENV) else {
        return;
    };
    let code = match run_child(&text) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("rivulet worker process: {message}");
            1
        }
    };
    std::process::exit(code);
}

fn run_child(text: &str) -> Result<(), String> {
    let spec = ChildSpec::decode(text).ok_or_else(|| format!("{WORKER_ENV} is malformed"))?;
    let identity = Identity::self_signed([tls::SERVER_NAME.to_owned(), "127.0.0.1".to_owned()])
        .map_err(|e| e.to_string())?;
    let cert = identity
        .certs
        .first()
        .cloned()
        .ok_or("no certificate was made")?;
    let transport = TransportSettings {
        keep_alive: spec.keep_alive,
        idle_timeout: spec.idle_timeout,
        max_bidi_streams: spec.max_bidi_streams,
    };
    let config = WorkerConfig {
        transport,
        ..WorkerConfig::new(identity, WorkerAuth::Secret(spec.secret)).slots(spec.slots.max(1))
    };
    // A thread of its own: `run_if_worker` may be called from inside a runtime (`#[tokio::main]`).
    let serving = std::thread::spawn(move || serve_child(config, cert));
    serving
        .join()
        .map_err(|_| "the worker thread panicked".to_owned())?
}

fn serve_child(
    config: WorkerConfig,
    cert: rustls::pki_types::CertificateDer<'static>,
) -> Result<(), String> {
    use std::io::Write;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(config.slots + 2)
        .build()
        .map_err(|e| e.to_string())?;
    let served = runtime.block_on(async move {
        let endpoint = bind(&config).map_err(|e| e.to_string())?;
        let addr = endpoint.local_addr().map_err(|e| e.to_string())?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{READY} {addr} {}", hex(&cert))
            .and_then(|()| stdout.flush())
            .map_err(|e| e.to_string())?;
        drop(stdout);
        run_until(endpoint, config, parent_gone_or_terminated()).await;
        Ok(())
    });
    // The stdin reader may still be blocked in a read; do not wait for it.
    runtime.shutdown_background();
    served
}

/// Resolves when the parent closes our stdin (it exited, or dropped its client) or, on Unix,
/// when we get SIGTERM: either way the worker finishes what it runs and stops.
async fn parent_gone_or_terminated() {
    let parent_gone = tokio::task::spawn_blocking(|| {
        use std::io::Read;
        let mut sink = [0u8; 64];
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
    });
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = parent_gone => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = parent_gone.await;
}

/// How long a child-process worker may take to say where it listens.
const CHILD_START_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a child-process worker could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The current executable could not be found or started.
    #[error("could not start a worker process: {0}")]
    Start(#[source] std::io::Error),
    /// The process ended before it said where it listens.
    #[error("the worker process exited before it was ready")]
    Exited,
    /// The process did not say where it listens in time.
    #[error("the worker process did not start within {0:?}")]
    Timeout(Duration),
}

/// A worker running as a child process of the current binary (see [`run_if_worker`]).
///
/// The process is killed when this handle is dropped; its standard input closing also tells
/// it to stop. [`Client::builder().processes(true)`](crate::remote::client::ClientBuilder::processes)
/// starts these for you; start them by hand to connect with
/// [`Client::connect`](crate::Client::connect) or to [`kill`](WorkerProcess::kill) one.
#[derive(Debug)]
pub struct WorkerProcess {
    addr: SocketAddr,
    cert: rustls::pki_types::CertificateDer<'static>,
    process: tokio::process::Child,
}

impl WorkerProcess {
    /// Starts the current executable, with `args`, as a worker with `slots` task slots that
    /// admits clients proving `secret`; returns once it listens (on 127.0.0.1).
    pub async fn spawn(
        slots: usize,
        secret: &[u8],
        transport: &TransportSettings,
        args: &[String],
    ) -> Result<WorkerProcess, SpawnError> {
        use tokio::io::AsyncBufReadExt;
        let exe = std::env::current_exe().map_err(SpawnError::Start)?;
        let spec = ChildSpec {
            slots,
            secret: secret.to_vec(),
            keep_alive: transport.keep_alive,
            idle_timeout: transport.idle_timeout,
            max_bidi_streams: transport.max_bidi_streams,
        };
        let mut process = tokio::process::Command::new(exe)
            .args(args)
            .env(WORKER_ENV, spec.encode())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(SpawnError::Start)?;
        let stdout = process.stdout.take().ok_or(SpawnError::Exited)?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(CHILD_START_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(ready) = parse_ready_line(&line) {
                    return Ok(ready);
                }
                debug!(line, "worker process said");
            }
            Err(SpawnError::Exited)
        })
        .await
        .map_err(|_| SpawnError::Timeout(CHILD_START_TIMEOUT))??;
        // Keep draining the child's output so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(WorkerProcess {
            addr: ready.0,
            cert: ready.1,
            process,
        })
    }

    /// Where the worker listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The worker's self-signed certificate, to pin ([`Trust::Pinned`]).
    pub fn certificate(&self) -> &rustls::pki_types::CertificateDer<'static> {
        &self.cert
    }

    /// The operating system's id of the process.
    pub fn pid(&self) -> Option<u32> {
        self.process.id()
    }

    /// Waits for the process to exit.
    pub async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.process.wait().await
    }

    /// Kills the process at once (SIGKILL on Unix), as a crash would.
    pub async fn kill(&mut self) -> std::io::Result<()> {
        self.process.kill().await
    }
}

/// Reads a child's ready line: its address and certificate.
pub(crate) fn parse_ready_line(
    line: &str,
) -> Option<(SocketAddr, rustls::pki_types::CertificateDer<'static>)> {
    let mut words = line.strip_prefix(READY)?.split_whitespace();
    let addr = words.next()?.parse().ok()?;
    let cert = unhex(words.next()?)?;
    Some((addr, rustls::pki_types::CertificateDer::from(cert)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
