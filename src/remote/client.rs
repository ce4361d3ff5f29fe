//! `Client`: connections to workers, placement, and the requests behind remote streams.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use serde::Serialize;

use crate::remote::future::{
    Lineage, RemoteFuture, Status, Value, failed_status, ready_status, status_of,
};
use crate::remote::link::{Link, WorkerId};
use crate::remote::metrics::Metrics;
use crate::remote::protocol::{Key, Refusal, Request, Task, TaskKind};
use crate::remote::task_error::{TaskError, TaskErrorKind};
use crate::remote::tls::{self, Identity, TransportSettings, Trust};
use crate::remote::worker::{self, Worker, WorkerAuth, WorkerConfig, WorkerProcess};

/// What can go wrong while starting workers or connecting to them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The TLS configuration could not be built (or a certificate could not be made).
    #[error("client TLS set-up failed: {0}")]
    Tls(#[from] tls::TlsError),
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
    /// An in-process worker could not start.
    #[error(transparent)]
    Worker(#[from] worker::WorkerError),
    /// A child-process worker could not start.
    #[error(transparent)]
    Spawn(#[from] worker::SpawnError),
    /// No worker was given.
    #[error("a client needs at least one worker")]
    NoWorkers,
    /// The dashboard asked for could not be served.
    #[error("could not start the dashboard: {0}")]
    Dashboard(#[from] crate::remote::dashboard::ServeError),
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

/// How to reach workers started elsewhere ([`Client::connect`]).
///
/// ```
/// use rivulet::remote::client::{ClientAuth, ConnectConfig};
/// use rivulet::remote::tls::Identity;
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
}

impl ConnectConfig {
    /// A configuration with the defaults listed on each field.
    pub fn new(trust: Trust, auth: ClientAuth) -> Self {
        ConnectConfig {
            trust,
            auth,
            server_name: tls::SERVER_NAME.to_owned(),
            transport: TransportSettings::default(),
            max_frame: crate::remote::frame::DEFAULT_MAX_FRAME,
        }
    }
}

/// Sets up a [`Client`] with workers of its own ([`Client::builder`]).
///
/// ```
/// # #[tokio::main]
/// # async fn main() -> Result<(), rivulet::remote::client::ClientError> {
/// let client = rivulet::Client::builder().workers(2).slots(2).build().await?;
/// assert_eq!(client.workers().len(), 2);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    workers: usize,
    slots: usize,
    processes: bool,
    worker_args: Vec<String>,
    transport: TransportSettings,
    dashboard: Option<crate::remote::dashboard::http::ServeAddr>,
}

impl ClientBuilder {
    /// How many workers to start (default 2).
    ///
    /// # Panics
    /// If `workers` is 0.
    pub fn workers(mut self, workers: usize) -> Self {
        crate::ops::assert_nonzero(workers, "ClientBuilder::workers", "workers");
        self.workers = workers;
        self
    }

    /// Task slots (threads) per worker; default: the machine's cores divided among the workers.
    ///
    /// # Panics
    /// If `slots` is 0.
    pub fn slots(mut self, slots: usize) -> Self {
        crate::ops::assert_nonzero(slots, "ClientBuilder::slots", "slots");
        self.slots = slots;
        self
    }

    /// Run each worker as a child process of the current binary instead of a thread of this one.
    ///
    /// The child runs this same program with the environment variable
    /// [`WORKER_ENV`](crate::worker::WORKER_ENV) set; it becomes a worker as soon as it reaches
    /// [`worker::run_if_worker`] or builds a client, so code before that runs in every worker too.
    pub fn processes(mut self, processes: bool) -> Self {
        self.processes = processes;
        self
    }

    /// Arguments for child-process workers, e.g. a test harness's `--exact worker_entry`.
    pub fn worker_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.worker_args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Keep-alive, idle timeout and stream limits, on both sides.
    pub fn transport(mut self, transport: TransportSettings) -> Self {
        self.transport = transport;
        self
    }

    /// Serves the client's live [dashboard](crate::remote::dashboard) on `addr`, usually
    /// `"127.0.0.1:8787"` (port 0 picks a free port; [`Client::dashboard_addr`] tells which),
    /// for as long as the client lives. An address that cannot be served fails [`build`](Self::build).
    ///
    /// ```
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), rivulet::remote::client::ClientError> {
    /// let client = rivulet::Client::builder().workers(2).dashboard("127.0.0.1:0").build().await?;
    /// if let Some(addr) = client.dashboard_addr() {
    ///     println!("dashboard: http://{addr}/status");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn dashboard(mut self, addr: impl std::net::ToSocketAddrs) -> Self {
        self.dashboard = Some(crate::remote::dashboard::http::ServeAddr::resolve(addr));
        self
    }

    /// Starts the workers and connects to them.
    pub async fn build(self) -> Result<Client, ClientError> {
        worker::run_if_worker();
        let secret = random_secret();
        let mut addrs = Vec::with_capacity(self.workers);
        let mut certs = Vec::with_capacity(self.workers);
        let mut local = Vec::new();
        let mut children = Vec::new();
        for _ in 0..self.workers {
            if self.processes {
                let child =
                    WorkerProcess::spawn(self.slots, &secret, &self.transport, &self.worker_args)
                        .await
                        .map_err(ClientError::Spawn)?;
                addrs.push(child.local_addr());
                certs.push(child.certificate().clone());
                children.push(child);
            } else {
                let identity =
                    Identity::self_signed([tls::SERVER_NAME.to_owned(), "127.0.0.1".to_owned()])?;
                certs.extend(identity.certs.iter().take(1).cloned());
                let config = WorkerConfig::new(identity, WorkerAuth::Secret(secret.clone()))
                    .slots(self.slots);
                let config = WorkerConfig {
                    transport: self.transport,
                    ..config
                };
                let spawned = Worker::spawn(config)?;
                addrs.push(spawned.local_addr());
                local.push(spawned);
            }
        }
        let mut config = ConnectConfig::new(Trust::Pinned(certs), ClientAuth::Secret(secret));
        config.transport = self.transport;
        let client = Client::connect(addrs, config).await?;
        if let Some(addr) = &self.dashboard {
            let dashboard =
                crate::remote::dashboard::Dashboard::start(&client.inner.metrics, addr)?;
            client.inner.metrics.keep_dashboard(dashboard);
        }
        let mut owned = client.inner.owned_workers();
        owned.local.extend(local);
        owned.children.extend(children);
        drop(owned);
        Ok(client)
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

#[derive(Debug, Default)]
struct OwnedWorkers {
    local: Vec<Worker>,
    children: Vec<WorkerProcess>,
}

#[derive(Debug)]
pub(crate) struct ClientInner {
    endpoint: quinn::Endpoint,
    client_config: quinn::ClientConfig,
    config: ConnectConfig,
    links: RwLock<Vec<Arc<Link>>>,
    next_key: AtomicU64,
    owned: Mutex<OwnedWorkers>,
    pub(crate) metrics: Arc<Metrics>,
}

impl ClientInner {
    fn owned_workers(&self) -> MutexGuard<'_, OwnedWorkers> {
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
        // Workers we started stop with us: threads are shut down, children killed on drop.
        let owned = std::mem::take(&mut *self.owned_workers());
        drop(owned);
    }
}

impl Client {
    /// Starts `workers` in-process workers, each a real QUIC endpoint on 127.0.0.1 with its own
    /// certificate, and connects to them: the embedded default.
    ///
    /// ```
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), rivulet::remote::client::ClientError> {
    /// let client = rivulet::Client::local(2).await?;
    /// assert_eq!(client.workers().len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `workers` is 0.
    pub async fn local(workers: usize) -> Result<Client, ClientError> {
        Client::builder().workers(workers).build().await
    }

    /// A builder for a client with workers of its own: how many, how many slots each, threads
    /// or child processes.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            workers: 2,
            slots: 0,
            processes: false,
            worker_args: Vec::new(),
            transport: TransportSettings::default(),
            dashboard: None,
        }
        .default_slots()
    }

    /// Connects to workers started elsewhere ([`worker::serve`], `examples/worker.rs`).
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
        let client_config = tls::client_config(&config.trust, client_identity, &config.transport)?;
        let bind = if addrs.iter().all(|a| a.is_ipv6()) {
            SocketAddr::from(([0u16; 8], 0))
        } else {
            SocketAddr::from(([0, 0, 0, 0], 0))
        };
        let endpoint = quinn::Endpoint::client(bind).map_err(ClientError::Endpoint)?;
        let client = Client {
            inner: Arc::new(ClientInner {
                endpoint,
                client_config,
                config,
                links: RwLock::new(Vec::new()),
                next_key: AtomicU64::new(0),
                owned: Mutex::new(OwnedWorkers::default()),
                metrics: Arc::new(Metrics::default()),
            }),
        };
        let links = futures::future::try_join_all(
            addrs
                .iter()
                .enumerate()
                .map(|(index, addr)| client.open_link(index, *addr)),
        )
        .await?;
        *client
            .inner
            .links
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = links;
        Ok(client)
    }

    async fn open_link(&self, index: usize, addr: SocketAddr) -> Result<Arc<Link>, ClientError> {
        let inner = &self.inner;
        Link::connect(
            &inner.endpoint,
            inner.client_config.clone(),
            index,
            addr,
            &inner.config,
            Arc::clone(&inner.metrics),
        )
        .await
    }

    /// Connects to one more worker; new work spreads to it.
    pub async fn add_worker(&self, addr: SocketAddr) -> Result<WorkerId, ClientError> {
        let index = self.inner.links().len();
        let link = self.open_link(index, addr).await?;
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
        for link in self.inner.links() {
            link.close();
        }
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
        let Some(link) = self.place() else {
            return RemoteFuture::from_shared(self.unplaced(TaskError::new(
                TaskErrorKind::NoWorkers,
                "every worker of the client is lost",
            )));
        };
        let _span = tracing::debug_span!("scatter", worker = %link.id).entered();
        RemoteFuture::from_shared(match postcard::to_allocvec(&x) {
            Ok(bytes) => self.scatter_bytes(&link, Bytes::from(bytes)),
            Err(error) => self.failed_value(&link, TaskError::codec(&error)),
        })
    }

    /// Keeps `bytes` on `link`'s worker; the client keeps them too, to scatter them again
    /// should that worker be lost before the value is done with.
    pub(crate) fn scatter_bytes(&self, link: &Arc<Link>, bytes: Bytes) -> Arc<Value> {
        let key = self.next_key();
        link.scatter(key, bytes.clone());
        Arc::new(Value {
            key,
            link: Arc::clone(link),
            // The bytes are here: the value is as good as done, whatever becomes of its worker.
            status: ready_status(bytes.clone()),
            output: 0,
            lineage: Mutex::new(Lineage::Bytes(bytes)),
            client: self.clone(),
        })
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
    /// task time), round-robin among equals.
    pub(crate) fn place(&self) -> Option<Arc<Link>> {
        // Called once per item: look at the list in place rather than copying it.
        self.inner
            .read_links()
            .iter()
            .filter(|link| link.is_alive())
            .min_by_key(|link| (link.expected_wait(), link.values_scattered()))
            .cloned()
    }

    /// Submits a task on the worker of `inputs[0]`; returns the outputs' values and the status.
    pub(crate) fn submit(
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
        for input in inputs {
            input.compact();
        }
        let output_keys: Vec<Key> = (0..outputs).map(|_| self.next_key()).collect();
        let task = Task {
            kind,
            function: function.to_string(),
            params: params.clone(),
            inputs: inputs.iter().map(|value| value.key).collect(),
            outputs: output_keys.clone(),
            reply_with_value,
        };
        let status = status_of(link.request(Request::Submit(task)), link.id);
        let lineage_inputs: Vec<Arc<Value>> =
            inputs.iter().map(|value| Arc::clone(value)).collect();
        let values = output_keys
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
                    client: self.clone(),
                })
            })
            .collect();
        (values, status)
    }

    /// A copy of `value` on `target`'s worker (through this process), or `value` itself if it
    /// is there already.
    pub(crate) async fn move_to(&self, value: &Arc<Value>, target: &Arc<Link>) -> Arc<Value> {
        if Arc::ptr_eq(&value.link, target) {
            return Arc::clone(value);
        }
        match value.bytes().await {
            Ok(bytes) => self.scatter_bytes(target, bytes),
            Err(error) => self.failed_value(target, error),
        }
    }

    /// A value that failed before it was sent: it carries `error` and nothing to release.
    pub(crate) fn failed_value(&self, link: &Arc<Link>, error: TaskError) -> Arc<Value> {
        Arc::new(Value {
            key: self.next_key(),
            link: Arc::clone(link),
            status: failed_status(error),
            output: 0,
            lineage: Mutex::new(Lineage::Unsent),
            client: self.clone(),
        })
    }
}

impl ClientBuilder {
    fn default_slots(mut self) -> Self {
        self.slots = (worker::default_slots() / self.workers).max(1);
        self
    }
}

fn random_secret() -> Vec<u8> {
    use ring::rand::SecureRandom;
    let mut secret = vec![0u8; 32];
    // The system's random source failing is not something a program can recover from.
    if ring::rand::SystemRandom::new().fill(&mut secret).is_err() {
        panic!("the system random number generator failed");
    }
    secret
}
