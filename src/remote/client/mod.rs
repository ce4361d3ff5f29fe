//! `Client`: connections to workers, placement, and the requests behind remote streams.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

mod buffered;
mod discover;
mod future;
mod link;
mod ops;
mod stream;

pub use self::future::RemoteFuture;
pub(crate) use self::future::Value;
use self::future::{
    Deferred, Lineage, MAX_RECOVERIES, Outcome, Outstanding, PendingRequest, Status, failed_status,
    made_status, ready_status,
};
pub(crate) use self::link::Link;
pub use self::ops::GatherUnordered;
pub use self::stream::{Gather, GatherAcked, Portable, RemoteFutures, RemoteStream, Scatterable};
use crate::Ack;
use crate::remote::obs::{Dashboard, Metrics, ServeAddr, ServeError};
use crate::remote::proto::{
    Backoff, DEFAULT_MAX_FRAME, FailureKind, Key, Limits, Refusal, Request, Response, Task,
    TaskError, TaskErrorKind, TaskKind, Token, WorkerId, choose_placement,
};
use crate::remote::transport::{self, Identity, TlsError, TransportSettings, Trust};
use crate::util::lock;

/// What can go wrong while starting workers or connecting to them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The TLS configuration could not be built (or a certificate could not be made).
    #[error("client TLS set-up failed: {0}")]
    Tls(#[from] TlsError),
    /// The client's endpoint could not be opened.
    #[error("could not open the client's endpoint: {0}")]
    Endpoint(std::io::Error),
    /// The QUIC connection (or its TLS handshake) to a worker failed.
    #[error("could not connect to {addr}: {source}")]
    Connect {
        /// The worker's address.
        addr: SocketAddr,
        /// Why (a wrong certificate shows up here).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The handshake broke off: bad frames, or the connection went away.
    #[error("handshake with {addr} failed: {source}")]
    Handshake {
        /// The worker's address.
        addr: SocketAddr,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The worker did not answer the hello in time.
    #[error("worker {addr} did not answer the handshake in time")]
    HandshakeTimeout {
        /// The worker's address.
        addr: SocketAddr,
    },
    /// The worker closed the connection without answering (for instance, it refused the
    /// client's certificate).
    #[error(
        "worker {addr} closed the connection during the handshake (is the client certificate trusted?)"
    )]
    HandshakeClosed {
        /// The worker's address.
        addr: SocketAddr,
    },
    /// The worker refused this client.
    #[error("worker {addr} refused the client: {}", describe_refusal(.refusal))]
    Refused {
        /// The worker's address.
        addr: SocketAddr,
        /// Its reason.
        refusal: Refusal,
    },
    /// No worker was given.
    #[error("a client needs at least one worker")]
    NoWorkers,
    /// [`Client::discover`]'s name could not be resolved.
    #[error("cannot resolve {name}: {source}")]
    Resolve {
        /// The name, `host:port`.
        name: String,
        /// Why.
        source: std::io::Error,
    },
    /// [`Client::discover`]'s name resolved to no address.
    #[error("{name} resolves to no address")]
    NoAddresses {
        /// The name, `host:port`.
        name: String,
    },
    /// This client was not made by [`Client::connect`] (it runs over simulated links), so it
    /// cannot connect to more workers.
    #[error("this client cannot connect to more workers")]
    CannotDial,
}

/// What a client made by [`Client::connect`] dials more workers with.
#[derive(Debug)]
struct Dialer {
    endpoint: quinn::Endpoint,
    client_config: quinn::ClientConfig,
    config: ConnectConfig,
}

fn describe_refusal(refusal: &Refusal) -> String {
    match refusal {
        Refusal::Version { worker, client } => {
            format!("protocol version {client} is not the worker's {worker}")
        }
        Refusal::Unauthenticated => "wrong secret or untrusted certificate".to_owned(),
        Refusal::MissingFunctions(missing) => {
            let names: Vec<String> = missing
                .iter()
                .map(|f| format!("{} ({})", f.name, f.signature))
                .collect();
            format!(
                "it was built from other code; missing remote functions: {}",
                names.join(", ")
            )
        }
    }
}

/// How a client proves itself to workers.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// The workers' shared secret (proven without being sent).
    Secret(Vec<u8>),
    /// A client certificate issued by the CA the workers trust.
    Certificate(Identity),
}

/// The first step of the waits before a lost worker is dialled again; it doubles up to
/// [`REDIAL_MAX`], each wait drawn between half and all of its step ([`Backoff`]).
const REDIAL_FIRST: Duration = Duration::from_millis(100);

/// The longest wait between two dials of a lost worker.
const REDIAL_MAX: Duration = Duration::from_secs(10);

/// A seed for one redial's waits that differs between processes (std's per-process hash keys),
/// links and moments, so clients that lost a worker together do not dial it in step.
fn redial_seed(id: WorkerId) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    id.hash(&mut hasher);
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
        .hash(&mut hasher);
    hasher.finish()
}

/// The default of [`ConnectConfig::request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// The default of [`ConnectConfig::discovery_interval`].
pub const DEFAULT_DISCOVERY_INTERVAL: Duration = Duration::from_secs(5);

/// How to reach workers started elsewhere ([`Client::connect`], [`Client::discover`]).
///
/// ```
/// use rivulet::remote::{ClientAuth, ConnectConfig, Identity};
///
/// let worker_identity = Identity::self_signed(vec!["localhost".into()]).unwrap();
/// let config = ConnectConfig::new(worker_identity.trust_pinned(), ClientAuth::Secret(b"s3cret".to_vec()));
/// assert_eq!(config.server_name, "localhost");
/// ```
#[derive(Debug, Clone)]
pub struct ConnectConfig {
    /// Which worker certificates to trust: pinned ones or a CA.
    pub trust: Trust,
    /// How to authenticate.
    pub auth: ClientAuth,
    /// The name the workers' certificates carry. Default `localhost`.
    pub server_name: String,
    /// Keep-alive, idle timeout and stream limits.
    pub transport: TransportSettings,
    /// The largest frame sent or accepted.
    pub max_frame: usize,
    /// The largest value sent or taken, and the pieces larger values travel in.
    pub limits: Limits,
    /// How long a worker may take to answer a request before the client gives up on that
    /// worker: it closes the connection and runs the worker's unfinished items elsewhere, as
    /// for a lost one. `None` waits for ever. Default 10 minutes.
    pub request_timeout: Option<Duration>,
    /// How long connecting to one worker may take, QUIC and TLS handshakes and the hello
    /// included. Default 10 s.
    pub connect_timeout: Duration,
    /// How often [`Client::discover`] resolves its name again (workers joining and leaving
    /// show within this). Default 5 s.
    pub discovery_interval: Duration,
    /// Whether a value needed on another worker than its own goes there directly, worker to
    /// worker (the client grants it to the worker that needs it), rather than through the
    /// client. Only with [`ClientAuth::Secret`]: workers that take clients by certificate
    /// serve no peers. Should a worker fail to reach another, values between those two go
    /// through the client for the next 30 s. Default `true`.
    pub peer_transfer: bool,
}

impl ConnectConfig {
    /// A configuration with the defaults listed on each field.
    pub fn new(trust: Trust, auth: ClientAuth) -> Self {
        ConnectConfig {
            trust,
            auth,
            server_name: transport::SERVER_NAME.to_owned(),
            transport: TransportSettings::default(),
            max_frame: DEFAULT_MAX_FRAME,
            limits: Limits::default(),
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
            connect_timeout: Duration::from_secs(10),
            discovery_interval: DEFAULT_DISCOVERY_INTERVAL,
            peer_transfer: true,
        }
    }
}

/// A cheap, clonable handle to a set of workers (clones share the connections).
///
/// When the last clone is dropped, the connections close (releasing every value on the
/// workers) and the workers the client started stop.
///
/// ```
/// use rivulet::prelude::*;
///
/// #[rivulet::remote]
/// fn square(x: i64) -> i64 {
///     x * x
/// }
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = rivulet::Client::local(2).await?;
/// let source = Source::new();
/// let squares = source.stream().scatter(&client).map(square).buffered(4).gather().sink_to_list();
/// for x in 0..4 {
///     source.emit(x).await?;
/// }
/// source.close();
/// let squares: Vec<i64> = squares.await?.into_iter().collect::<Result<_, _>>()?;
/// assert_eq!(squares, vec![0, 1, 4, 9]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

/// Something the client keeps alive for as long as it lives, and stops when it goes: the
/// workers a [`ClientBuilder`](crate::remote::ClientBuilder) started, its dashboard.
pub(crate) trait Owned: Send + std::fmt::Debug {
    /// Stops it and waits until it has stopped (without blocking a thread).
    fn shutdown(self: Box<Self>) -> futures::future::BoxFuture<'static, ()>;
}

#[derive(Debug)]
pub(crate) struct ClientInner {
    /// How to reach more workers: `None` for a client over simulated links.
    dialer: Option<Dialer>,
    /// Set by [`Client::close`]: lost links are not redialled any more.
    closed: std::sync::atomic::AtomicBool,
    links: RwLock<Vec<Arc<Link>>>,
    /// The index the next worker gets, taken before it is connected, so that workers added
    /// at the same time get distinct ids.
    next_worker: AtomicUsize,
    next_key: AtomicU64,
    owned: Mutex<Vec<Box<dyn Owned>>>,
    /// The dashboard started by the builder, if any.
    dashboard: Mutex<Option<Dashboard>>,
    pub(crate) metrics: Arc<Metrics>,
    /// Held while deferred requests are sent, so that a task never goes out before the task
    /// that makes its input (see [`Value::start`]).
    pub(crate) starting: Mutex<()>,
}

impl ClientInner {
    fn owned(&self) -> MutexGuard<'_, Vec<Box<dyn Owned>>> {
        self.owned
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read_links(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Link>>> {
        // The list is only ever pushed to; a panic cannot leave it half-done.
        self.links
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn links(&self) -> Vec<Arc<Link>> {
        self.read_links().clone()
    }
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        for link in self.links() {
            link.close();
        }
        // Workers we started stop with us; dropping them only tells them to (threads are not
        // joined, children are killed), so this never blocks the thread it runs on.
        let owned = std::mem::take(&mut *self.owned());
        drop(owned);
    }
}

impl Client {
    /// Connects to workers started elsewhere ([`worker::serve`](crate::worker::serve), `examples/worker.rs`).
    pub async fn connect(
        addrs: impl IntoIterator<Item = SocketAddr>,
        config: ConnectConfig,
    ) -> Result<Client, ClientError> {
        let addrs: Vec<SocketAddr> = addrs.into_iter().collect();
        if addrs.is_empty() {
            return Err(ClientError::NoWorkers);
        }
        let client_identity = match &config.auth {
            ClientAuth::Certificate(identity) => Some(identity),
            ClientAuth::Secret(_) => None,
        };
        let client_config =
            transport::client_config(&config.trust, client_identity, &config.transport)?;
        let bind = if addrs.iter().all(|a| a.is_ipv6()) {
            SocketAddr::from(([0u16; 8], 0))
        } else {
            SocketAddr::from(([0, 0, 0, 0], 0))
        };
        let endpoint = quinn::Endpoint::client(bind).map_err(ClientError::Endpoint)?;
        let client = Client::with_dialer(Some(Dialer {
            endpoint,
            client_config,
            config,
        }));
        let links =
            futures::future::try_join_all(addrs.iter().map(|addr| client.open_link(*addr))).await?;
        for link in &links {
            client.redial_when_lost(link);
        }
        *client
            .inner
            .links
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = links;
        Ok(client)
    }

    /// A client with no link yet.
    fn with_dialer(dialer: Option<Dialer>) -> Client {
        Client {
            inner: Arc::new(ClientInner {
                dialer,
                closed: std::sync::atomic::AtomicBool::new(false),
                links: RwLock::new(Vec::new()),
                next_worker: AtomicUsize::new(0),
                next_key: AtomicU64::new(0),
                owned: Mutex::new(Vec::new()),
                dashboard: Mutex::new(None),
                metrics: Arc::new(Metrics::default()),
                starting: Mutex::new(()),
            }),
        }
    }

    /// A client over links made elsewhere (the simulation's): `link` makes each, given its id
    /// and the client's metrics.
    pub(crate) fn over_links(
        addrs: &[SocketAddr],
        mut link: impl FnMut(WorkerId, &Arc<Metrics>) -> Arc<Link>,
    ) -> Client {
        let client = Client::with_dialer(None);
        let links = addrs
            .iter()
            .map(|addr| {
                let index = client.inner.next_worker.fetch_add(1, Ordering::Relaxed);
                link(WorkerId::new(index, *addr), &client.inner.metrics)
            })
            .collect();
        *client
            .inner
            .links
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = links;
        client
    }

    async fn open_link(&self, addr: SocketAddr) -> Result<Arc<Link>, ClientError> {
        let inner = &self.inner;
        let dialer = inner.dialer.as_ref().ok_or(ClientError::CannotDial)?;
        let id = WorkerId::new(inner.next_worker.fetch_add(1, Ordering::Relaxed), addr);
        Link::connect(
            &dialer.endpoint,
            dialer.client_config.clone(),
            id,
            &dialer.config,
            Arc::clone(&inner.metrics),
        )
        .await
    }

    /// Connects to one more worker; new work spreads to it. Workers added at the same time
    /// get distinct ids.
    pub async fn add_worker(&self, addr: SocketAddr) -> Result<WorkerId, ClientError> {
        let link = self.open_link(addr).await?;
        self.redial_when_lost(&link);
        let id = link.id;
        self.inner
            .links
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(link);
        Ok(id)
    }

    /// The workers connected and alive now.
    pub fn workers(&self) -> Vec<WorkerId> {
        self.inner
            .links()
            .iter()
            .filter(|link| link.is_alive())
            .map(|link| link.id)
            .collect()
    }

    /// Total task slots of the live workers.
    pub fn slots(&self) -> usize {
        self.inner
            .links()
            .iter()
            .filter(|link| link.is_alive())
            .map(|link| link.slots as usize)
            .sum()
    }

    /// Closes every connection now (releasing the client's values on every worker); requests
    /// still waiting fail as lost.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        for link in self.inner.links() {
            link.close();
        }
    }

    /// Once `link` is lost, dials its worker again, with backoff, until it answers or the
    /// client is closed or dropped; the new link takes the old one's place (and id). Items the
    /// lost link had were already made again elsewhere and stay there; new work spreads to the
    /// worker again, so a worker lost to a brief stall or a network blip is not lost for good.
    fn redial_when_lost(&self, link: &Arc<Link>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let client = Arc::downgrade(&self.inner);
        let (id, ended) = (link.id, link.ended());
        runtime.spawn(async move {
            ended.await;
            let mut backoff = Backoff::new(REDIAL_FIRST, REDIAL_MAX, redial_seed(id));
            loop {
                tokio::time::sleep(backoff.next_wait()).await;
                // Hold the client only while setting out, so a dropped client goes at once.
                let Some(inner) = client.upgrade() else {
                    return;
                };
                if inner.closed.load(Ordering::Acquire) || discover::retired(&inner, id) {
                    return;
                }
                let Some(dialer) = inner.dialer.as_ref() else {
                    return;
                };
                let (endpoint, client_config, config, metrics) = (
                    dialer.endpoint.clone(),
                    dialer.client_config.clone(),
                    dialer.config.clone(),
                    Arc::clone(&inner.metrics),
                );
                drop(inner);
                let Ok(link) = Link::connect(&endpoint, client_config, id, &config, metrics).await
                else {
                    continue;
                };
                let Some(inner) = client.upgrade() else {
                    link.close();
                    return;
                };
                if inner.closed.load(Ordering::Acquire) {
                    link.close();
                    return;
                }
                let client = Client { inner };
                let replaced = match client
                    .inner
                    .links
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .iter_mut()
                    .find(|old| old.id == id && !old.is_draining())
                {
                    Some(slot) => {
                        *slot = Arc::clone(&link);
                        true
                    }
                    None => false,
                };
                if !replaced {
                    // Retired by discovery while it was being dialled: it stays gone.
                    discover::left_while_dialling(&client.inner, &link);
                    return;
                }
                tracing::info!(worker = %id, "a lost worker is back: redialled");
                client.redial_when_lost(&link);
                return;
            }
        });
    }

    /// Sends one value to the worker with the least outstanding work.
    ///
    /// ```
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(1).await?;
    /// let handle = client.scatter(String::from("hello"));
    /// assert_eq!(handle.fetch().await?, "hello");
    /// # Ok(())
    /// # }
    /// ```
    pub fn scatter<T: Serialize>(&self, x: T) -> RemoteFuture<T> {
        self.place_value(x, Client::scatter_bytes)
    }

    /// Like [`scatter`](Self::scatter), but the value is sent along with the first task on it
    /// (one message instead of two), or never, if no task needs it: what a stream's
    /// `scatter` does.
    pub(crate) fn scatter_lazily<T: Serialize>(&self, x: T) -> RemoteFuture<T> {
        self.place_value(x, Client::local_value)
    }

    /// Encodes `x`, checks it against the value limit, and keeps it for the worker with the
    /// least outstanding work with `keep`.
    fn place_value<T: Serialize>(
        &self,
        x: T,
        keep: fn(&Client, &Arc<Link>, Bytes) -> Arc<Value>,
    ) -> RemoteFuture<T> {
        let Some(link) = self.place() else {
            return RemoteFuture::from_shared(self.unplaced(TaskError::new(
                TaskErrorKind::NoWorkers,
                "every worker of the client is lost",
            )));
        };
        let _span = tracing::debug_span!("scatter", worker = %link.id).entered();
        RemoteFuture::from_shared(match postcard::to_allocvec(&x) {
            Ok(bytes) if bytes.len() as u64 > link.max_value() => self.failed_value(
                &link,
                TaskError::new(
                    TaskErrorKind::ValueTooLarge,
                    format!(
                        "the value's encoding is {} bytes, over the limit of {} bytes (ConnectConfig::limits)",
                        bytes.len(),
                        link.max_value()
                    ),
                ),
            ),
            Ok(bytes) => keep(self, &link, Bytes::from(bytes)),
            Err(error) => self.failed_value(&link, TaskError::codec(&error)),
        })
    }

    /// A value meant for `link`'s worker whose bytes are only here for now: the first task on
    /// it takes them along ([`Request::SubmitWith`]).
    pub(crate) fn local_value(&self, link: &Arc<Link>, bytes: Bytes) -> Arc<Value> {
        link.note_placed();
        let status = ready_status(bytes.clone());
        self.answered_value(link, self.next_key(), status, Lineage::Bytes(bytes), true)
    }

    /// Keeps `bytes` on `link`'s worker; the client keeps them too, to scatter them again
    /// should that worker be lost before the value is done with.
    pub(crate) fn scatter_bytes(&self, link: &Arc<Link>, bytes: Bytes) -> Arc<Value> {
        let key = self.next_key();
        link.note_placed();
        link.scatter(key, bytes.clone());
        // The bytes are here: the value is as good as done, whatever becomes of its worker.
        let status = ready_status(bytes.clone());
        self.answered_value(link, key, status, Lineage::Bytes(bytes), false)
    }

    /// A value that failed before it was placed anywhere.
    fn unplaced(&self, error: TaskError) -> Arc<Value> {
        match self.inner.links().first() {
            Some(link) => self.failed_value(link, error),
            // `Client::connect` refuses an empty list of workers, so a client always has a link.
            None => unreachable!("a client without workers: {error}"),
        }
    }

    fn next_key(&self) -> Key {
        Key(self.inner.next_key.fetch_add(1, Ordering::Relaxed))
    }

    /// The live worker with the least outstanding work (its queued requests times its recent
    /// task time), round-robin among equals; in a fleet of more than
    /// [`SAMPLE_ABOVE`](crate::remote::proto::SAMPLE_ABOVE) workers, the better of two drawn
    /// at random ([`choose_placement`]), so that placing an item costs the same at any size.
    pub(crate) fn place(&self) -> Option<Arc<Link>> {
        // Called once per item: look at the list in place rather than copying it.
        let links = self.inner.read_links();
        // The key counter moves with every value placed: a fresh draw each time, and the same
        // draws when a simulation replays a run.
        let salt = self.inner.next_key.load(Ordering::Relaxed);
        choose_placement(&links, salt, |link| {
            (link.is_alive() && !link.is_draining()).then(|| link.load())
        })
        .cloned()
    }

    /// Runs the remote function `f` on `x` as one task (Dask's `client.submit(f, x)`): `x` is
    /// sent to the worker with the least outstanding work, the task runs there, and the handle
    /// stands for its result, which [`fetch`](RemoteFuture::fetch) brings here. A lost worker's
    /// task is run again elsewhere, as a scattered item's would be.
    ///
    /// ```
    /// #[rivulet::remote]
    /// fn shout(text: String) -> String {
    ///     text.to_uppercase()
    /// }
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(1).await?;
    /// let answer = client.submit(shout, "hello".to_owned());
    /// assert_eq!(answer.fetch().await?, "HELLO");
    /// # Ok(())
    /// # }
    /// ```
    pub fn submit<F>(&self, f: F, x: F::Input) -> RemoteFuture<F::Output>
    where
        F: crate::RemoteFn,
        F::Input: Serialize,
    {
        let input = self.scatter_lazily(x);
        let function: Arc<str> = Arc::from(F::NAME);
        let value = match postcard::to_allocvec(&f) {
            Ok(params) => {
                let params = Bytes::from(params);
                let (mut outputs, _) =
                    self.submit_task(TaskKind::Map, &function, &params, &[&input.value], 1, true);
                let output = outputs.swap_remove(0);
                // Dask's `submit` runs at once, whether or not anyone waits for the result.
                output.start();
                output
            }
            Err(error) => self.failed_value(&input.value.link, TaskError::codec(&error)),
        };
        RemoteFuture::from_shared(value)
    }

    /// Submits a task on the worker of `inputs[0]`; returns the outputs' values and the status.
    pub(crate) fn submit_task(
        &self,
        kind: TaskKind,
        function: &Arc<str>,
        params: &Bytes,
        inputs: &[&Arc<Value>],
        outputs: usize,
        reply_with_value: bool,
    ) -> (Vec<Arc<Value>>, Status) {
        let link = Arc::clone(&inputs[0].link);
        let _span =
            tracing::debug_span!("submit", worker = %link.id, function = %function).entered();
        // An input that failed before it was sent anywhere is on no worker: the task's
        // outputs are that failure, without asking any worker.
        if let Some(error) = inputs.iter().find_map(|input| input.unsent_error()) {
            let values = (0..outputs)
                .map(|_| {
                    self.failed_value(&link, error.clone())
                        .inherit(inputs.iter().copied())
                })
                .collect();
            return (values, failed_status(error));
        }
        let mut input_keys = Vec::with_capacity(inputs.len());
        let mut along = Vec::new();
        for input in inputs {
            input.compact();
            debug_assert!(
                Arc::ptr_eq(&input.link, &link) || input.local_bytes().is_some(),
                "a task's inputs are moved to its worker first"
            );
            match input.local_bytes() {
                // Small enough for the task's frame: it travels with the task, under a key of
                // its own (the value stays only here, for the next task that needs it).
                Some(bytes) if bytes.len() <= link.max_along() => {
                    let key = self.next_key();
                    along.push((key, bytes));
                    input_keys.push(key);
                    continue;
                }
                // Too large: it goes first, in pieces, and stays there.
                Some(bytes) => input.send_once(bytes),
                None => {}
            }
            input_keys.push(input.key);
        }
        let output_keys: Vec<Key> = (0..outputs).map(|_| self.next_key()).collect();
        let task = Task {
            kind,
            function: function.to_string(),
            params: params.clone(),
            inputs: input_keys,
            outputs: output_keys.clone(),
            reply_with_value,
        };
        let request = if along.is_empty() {
            Request::Submit(task)
        } else {
            Request::SubmitWith {
                task,
                inputs: along,
            }
        };
        let (status, settle) = Status::waiting(link.id);
        let lineage_inputs: Vec<Arc<Value>> =
            inputs.iter().map(|value| Arc::clone(value)).collect();
        let deferred = Arc::new(Deferred::default());
        let values: Vec<Arc<Value>> = output_keys
            .into_iter()
            .enumerate()
            .map(|(output, key)| {
                Arc::new(Value {
                    key,
                    link: Arc::clone(&link),
                    status: status.clone(),
                    output,
                    lineage: Mutex::new(Lineage::Task {
                        kind,
                        function: Arc::clone(function),
                        params: params.clone(),
                        inputs: lineage_inputs.clone(),
                        output,
                        outputs,
                    }),
                    outstanding: Outstanding::running(),
                    local_only: AtomicBool::new(false),
                    request: Some(Arc::clone(&deferred)),
                    acks: OnceLock::new(),
                    client: self.clone(),
                })
            })
            .collect();
        // The outputs stand for the items their inputs came from (an accumulation's state
        // stands for none: it outlives every item).
        let acks: Vec<Ack> = inputs
            .iter()
            .flat_map(|input| input.acks())
            .cloned()
            .collect();
        if !acks.is_empty() {
            let skip = usize::from(kind == TaskKind::Accumulate);
            for value in values.iter().skip(skip) {
                let _ = value.acks.set(acks.clone());
            }
        }
        let pending = PendingRequest {
            link: Arc::clone(&link),
            request,
            answer: link::Answerer::Status(settle),
            outputs: values.iter().map(Arc::downgrade).collect(),
            inputs: lineage_inputs,
        };
        if values.is_empty() {
            // Nothing stands for a task without outputs (a retain's): it goes now.
            self.send_now(pending);
        } else {
            // Sent when something needs it (see `Value::start`).
            deferred.defer(pending);
        }
        (values, status)
    }

    /// Sends a request whose inputs' requests may still be deferred: those go first, in order,
    /// under the client's start lock.
    pub(crate) fn send_now(&self, pending: PendingRequest) {
        let _starting = lock(&self.inner.starting);
        for input in &pending.inputs {
            input.start_locked();
        }
        pending.send();
    }

    /// A copy of `value` on `target`'s worker, or `value` itself if it is there already.
    ///
    /// Bytes already here (scattered, or small enough to come back with their reply) go from
    /// here with the first task on the copy. Others go worker to worker when both workers
    /// serve peers ([`ConnectConfig::peer_transfer`]): the client grants the value to the
    /// target, which pulls it from its holder. Failing that (a worker that cannot reach the
    /// other, a holder lost meanwhile), they come through this process: fetched, made again
    /// if their worker is lost, and sent on.
    pub(crate) async fn move_to(&self, value: &Arc<Value>, target: &Arc<Link>) -> Arc<Value> {
        let moved = self.copy_to(value, target).await;
        // The copy stands for the same items as the original.
        if !Arc::ptr_eq(&moved, value) && !value.acks().is_empty() {
            let _ = moved.acks.set(value.acks().to_vec());
        }
        moved
    }

    async fn copy_to(&self, value: &Arc<Value>, target: &Arc<Link>) -> Arc<Value> {
        if Arc::ptr_eq(&value.link, target) {
            return Arc::clone(value);
        }
        if let Some(bytes) = value.local_bytes() {
            return self.local_value(target, bytes);
        }
        let mut source = Arc::clone(value);
        for _ in 0..=MAX_RECOVERIES {
            let (settled, status) = source.settled().await;
            let done = match status {
                Ok(done) => done,
                Err(error) => return self.failed_value(target, error),
            };
            if let Some(Some(bytes)) = done.inline.get(settled.output) {
                return self.local_value(target, bytes.clone());
            }
            if Arc::ptr_eq(&settled.link, target) {
                // Made again on the target itself.
                return settled;
            }
            if !target.is_alive() {
                // Whatever is sent there is lost: a copy that is made again wherever the task
                // on it goes next.
                return self.lost_copy(&settled, target);
            }
            if !target.can_pull_from(&settled.link) {
                source = settled;
                break;
            }
            if let Some(pulled) = self.pull(&settled, target).await {
                return pulled;
            }
            if settled.link.is_alive() || !target.is_alive() {
                source = settled;
                break;
            }
            // The holder was lost: make the value again, then bring it over from there.
            source = match settled.remake().await {
                Ok(remade) => remade,
                Err(error) => return self.failed_value(target, error),
            };
        }
        if !target.is_alive() {
            return self.lost_copy(&source, target);
        }
        match source.bytes().await {
            Ok(bytes) => {
                self.inner.metrics.on_moved(bytes.len() as u64, false);
                self.scatter_bytes(target, bytes)
            }
            Err(error) => self.failed_value(target, error),
        }
    }

    /// A copy of `value` meant for `target`, whose worker is lost: it fails as lost, and is
    /// made again from `value`'s lineage by whatever needs it.
    fn lost_copy(&self, value: &Arc<Value>, target: &Arc<Link>) -> Arc<Value> {
        let status = failed_status(TaskError::worker_lost(target.id));
        let lineage = value.lineage().clone();
        self.answered_value(target, self.next_key(), status, lineage, false)
    }

    /// Has `target`'s worker take a copy of `value` (made, its bytes not here) straight from
    /// the worker holding it: `None` if it could not, and the caller moves it another way.
    async fn pull(&self, value: &Arc<Value>, target: &Arc<Link>) -> Option<Arc<Value>> {
        use ring::rand::SecureRandom;
        let mut token = [0_u8; 32];
        ring::rand::SystemRandom::new().fill(&mut token).ok()?;
        let token = Token(token);
        let holder = value.link.holder(token)?;
        let key = self.next_key();
        // The grant goes first on the holder's own stream; the target's pull waits a little
        // for it there should it overtake it.
        value.link.grant(value.key, token);
        let answer = target.request(Request::Pull { key, from: holder }).await;
        match answer {
            Ok(Ok(Response::Done { sizes, .. })) => {
                let size = sizes.first().copied().unwrap_or(0);
                self.inner.metrics.on_moved(size, true);
                tracing::debug!(key = ?value.key, from = %value.link.id, to = %target.id, size, "pulled worker to worker");
                // Made again as the original would be, should the target be lost.
                let lineage = value.lineage().clone();
                Some(self.answered_value(target, key, made_status(size), lineage, false))
            }
            answered => {
                // The key holds the failure there, if the target is still up: free it.
                target.release(key);
                if let Ok(Ok(Response::Failed(failure))) = &answered {
                    tracing::info!(from = %value.link.id, to = %target.id, reason = %failure.message, "a worker could not pull from another; moving through the client");
                    // The holder is still up, so the target cannot reach it: values between
                    // these two go through the client from now on.
                    if failure.kind == FailureKind::Unavailable && value.link.is_alive() {
                        target.cannot_pull_from(&value.link);
                    }
                }
                None
            }
        }
    }

    /// `a` and `b` on one worker, for a task over both: the one with fewer bytes there is
    /// moved to the other's worker (bytes already here count as none).
    pub(crate) async fn colocate(
        &self,
        a: &Arc<Value>,
        b: &Arc<Value>,
    ) -> (Arc<Value>, Arc<Value>) {
        if Arc::ptr_eq(&a.link, &b.link) {
            return (Arc::clone(a), Arc::clone(b));
        }
        let ((a, a_status), (b, b_status)) = futures::join!(a.settled(), b.settled());
        let weight = |value: &Arc<Value>, status: &Outcome| match status {
            Ok(done) if matches!(done.inline.get(value.output), Some(Some(_))) => 0,
            Ok(done) => done.sizes.get(value.output).copied().unwrap_or(0),
            Err(_) => 0,
        };
        if weight(&b, &b_status) > weight(&a, &a_status) && b.link.is_alive() {
            let a = self.move_to(&a, &b.link).await;
            (a, b)
        } else {
            let b = self.move_to(&b, &a.link).await;
            (a, b)
        }
    }

    /// A value that failed before it was sent: it carries `error` and nothing to release.
    pub(crate) fn failed_value(&self, link: &Arc<Link>, error: TaskError) -> Arc<Value> {
        self.answered_value(
            link,
            self.next_key(),
            failed_status(error),
            Lineage::Unsent,
            false,
        )
    }

    /// A value under `key` on `link`'s worker whose status is known already (no request of its
    /// own is out): the one shape of every value that is not a task's output.
    fn answered_value(
        &self,
        link: &Arc<Link>,
        key: Key,
        status: Status,
        lineage: Lineage,
        local_only: bool,
    ) -> Arc<Value> {
        Arc::new(Value {
            key,
            link: Arc::clone(link),
            status,
            output: 0,
            lineage: Mutex::new(lineage),
            outstanding: Outstanding::answered(),
            local_only: AtomicBool::new(local_only),
            request: None,
            acks: OnceLock::new(),
            client: self.clone(),
        })
    }
}

impl Client {
    /// The metrics, shared with a dashboard.
    pub(crate) fn metrics_arc(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// Keeps `owned` until the client goes, then stops it.
    pub(crate) fn keep(&self, owned: Box<dyn Owned>) {
        self.inner.owned().push(owned);
    }

    /// Closes every connection, then stops the workers this client started and waits until they
    /// have stopped, without blocking the runtime. Other clones of the client see its workers
    /// as lost.
    ///
    /// ```
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// client.shutdown().await;
    /// assert!(client.workers().is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn shutdown(&self) {
        self.close();
        let owned = std::mem::take(&mut *self.inner.owned());
        futures::future::join_all(owned.into_iter().map(Owned::shutdown)).await;
    }

    /// Serves this client's live dashboard on `addr` (port 0 picks a free port) until the
    /// returned handle, or the client, is dropped. See [`obs`](crate::remote::obs) for what it
    /// shows; [`ClientBuilder::dashboard`](crate::remote::ClientBuilder::dashboard) starts one
    /// that lives as long as the client.
    ///
    /// ```
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let dashboard = client.serve_dashboard("127.0.0.1:0").await?;
    /// println!("dashboard: {}", dashboard.url());
    /// assert!(dashboard.local_addr().ip().is_loopback());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// If `addr` cannot be resolved or bound.
    pub async fn serve_dashboard(
        &self,
        addr: impl tokio::net::ToSocketAddrs,
    ) -> Result<Dashboard, ServeError> {
        Dashboard::start(&self.inner.metrics, &ServeAddr::lookup(addr).await)
    }

    /// Keeps `dashboard` running as long as the client (the builder's dashboard).
    pub(crate) fn keep_dashboard(&self, dashboard: Dashboard) {
        *lock(&self.inner.dashboard) = Some(dashboard);
    }

    /// The address of the dashboard started by
    /// [`ClientBuilder::dashboard`](crate::remote::ClientBuilder::dashboard), if any.
    pub fn dashboard_addr(&self) -> Option<SocketAddr> {
        lock(&self.inner.dashboard)
            .as_ref()
            .map(Dashboard::local_addr)
    }

    /// What the client has recorded about its workers and tasks: the numbers behind the
    /// dashboard and `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}
