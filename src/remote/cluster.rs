//! The embedded cluster: a client that starts its own workers, as threads of this process or
//! as child processes of this binary ([`Client::local`], [`Client::builder`]).
//!
//! This is the one part of the distributed mode that uses both sides: it starts workers and
//! connects a client to them, and hands the workers to the client to stop when it goes.

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::remote::client::{Client, ClientAuth, ClientError, ConnectConfig, Owned};
use crate::remote::obs::{Dashboard, ServeAddr, ServeError};
use crate::remote::proto::Limits;
use crate::remote::transport::{self, Identity, TlsError, TransportSettings, Trust};
use crate::remote::worker::{
    self, SpawnError, Worker, WorkerAuth, WorkerConfig, WorkerError, WorkerProcess,
};

/// Why a client with workers of its own could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// A certificate for an in-process worker could not be made.
    #[error("worker certificate: {0}")]
    Tls(#[from] TlsError),
    /// An in-process worker could not start.
    #[error(transparent)]
    Worker(#[from] WorkerError),
    /// A child-process worker could not start.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// The client could not connect to the workers it started.
    #[error(transparent)]
    Connect(#[from] ClientError),
    /// The dashboard asked for could not be served.
    #[error("could not start the dashboard: {0}")]
    Dashboard(#[from] ServeError),
}

/// Sets up a [`Client`] with workers of its own ([`Client::builder`]).
///
/// ```
/// # #[tokio::main]
/// # async fn main() -> Result<(), rivulet::remote::ClusterError> {
/// let client = rivulet::Client::builder().workers(2).slots(2).build().await?;
/// assert_eq!(client.workers().len(), 2);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    workers: usize,
    /// Slots per worker; `None` until [`slots`](Self::slots) is called, so the default can
    /// follow the number of workers whenever that is set.
    slots: Option<usize>,
    processes: bool,
    worker_args: Vec<String>,
    transport: TransportSettings,
    limits: Limits,
    dashboard: Option<String>,
}

impl ClientBuilder {
    /// How many workers to start (default 2).
    ///
    /// # Panics
    /// If `workers` is 0.
    pub fn workers(mut self, workers: usize) -> Self {
        crate::util::assert_nonzero(workers, "ClientBuilder::workers", "workers");
        self.workers = workers;
        self
    }

    /// Task slots (threads) per worker; default: the machine's cores divided among the workers.
    ///
    /// # Panics
    /// If `slots` is 0.
    pub fn slots(mut self, slots: usize) -> Self {
        crate::util::assert_nonzero(slots, "ClientBuilder::slots", "slots");
        self.slots = Some(slots);
        self
    }

    /// Run each worker as a child process of the current binary instead of a thread of this one.
    ///
    /// The child runs this same program with the environment variable
    /// [`WORKER_ENV`](crate::worker::WORKER_ENV) set; it becomes a worker when it reaches
    /// [`worker::run_if_worker`], so call that first thing in `main`: code before it runs in
    /// every worker too. A child that builds a client without calling it exits at once, and
    /// `build` fails with [`SpawnError::Exited`], whose message carries the child's exit status
    /// and its last lines on standard error, naming `run_if_worker`.
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

    /// The largest value, and the pieces larger values travel in, on both sides (default
    /// [`Limits::default`]: values up to 1 GiB, in pieces of 1 MiB).
    ///
    /// ```
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use rivulet::remote::proto::Limits;
    ///
    /// let limits = Limits { max_value: 16 << 20, ..Limits::default() };
    /// let client = rivulet::Client::builder().workers(1).limits(limits).build().await?;
    /// let too_big = client.scatter(vec![0u8; 32 << 20]);
    /// assert_eq!(too_big.fetch().await.unwrap_err().kind(), rivulet::TaskErrorKind::ValueTooLarge);
    /// # Ok(())
    /// # }
    /// ```
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Serves the client's live [dashboard](crate::remote::obs::Dashboard) on `addr`, usually
    /// `"127.0.0.1:8787"` (port 0 picks a free port; [`Client::dashboard_addr`] tells which),
    /// for as long as the client lives. An address that cannot be served fails [`build`](Self::build).
    ///
    /// ```
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), rivulet::remote::ClusterError> {
    /// let client = rivulet::Client::builder().workers(2).dashboard("127.0.0.1:0").build().await?;
    /// if let Some(addr) = client.dashboard_addr() {
    ///     println!("dashboard: http://{addr}/status");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// `addr` is anything that prints as `host:port` (a `&str`, a [`SocketAddr`](std::net::SocketAddr));
    /// it is resolved by [`build`](Self::build), without blocking the runtime.
    pub fn dashboard(mut self, addr: impl std::fmt::Display) -> Self {
        self.dashboard = Some(addr.to_string());
        self
    }

    /// The slots each worker gets: as set, or the machine's cores divided among the workers.
    fn slots_per_worker(&self) -> usize {
        self.slots
            .unwrap_or_else(|| (worker::default_slots() / self.workers).max(1))
    }

    /// Starts the workers and connects to them.
    ///
    /// In a process started as a child-process worker that has not called
    /// [`run_if_worker`](worker::run_if_worker), `build` does not start workers of its own: it
    /// writes a message naming `run_if_worker` on standard error and exits the process (status
    /// 3), and the parent's [`SpawnError::Exited`] carries that status and message.
    pub async fn build(self) -> Result<Client, ClusterError> {
        worker::exit_if_worker_without_entry();
        let secret = random_secret();
        let slots = self.slots_per_worker();
        let mut addrs = Vec::with_capacity(self.workers);
        let mut certs = Vec::with_capacity(self.workers);
        let mut owned: Vec<Box<dyn Owned>> = Vec::with_capacity(self.workers);
        for _ in 0..self.workers {
            if self.processes {
                let child = WorkerProcess::spawn_with_limits(
                    slots,
                    &secret,
                    &self.transport,
                    self.limits,
                    &self.worker_args,
                )
                .await?;
                addrs.push(child.local_addr());
                certs.push(child.certificate().clone());
                owned.push(Box::new(child));
            } else {
                let identity = Identity::self_signed([
                    transport::SERVER_NAME.to_owned(),
                    "127.0.0.1".to_owned(),
                ])?;
                certs.extend(identity.certs.iter().take(1).cloned());
                let config =
                    WorkerConfig::new(identity, WorkerAuth::Secret(secret.clone())).slots(slots);
                let config = WorkerConfig {
                    transport: self.transport,
                    limits: self.limits,
                    ..config
                };
                let spawned = Worker::spawn(config)?;
                addrs.push(spawned.local_addr());
                owned.push(Box::new(spawned));
            }
        }
        let mut config = ConnectConfig::new(Trust::Pinned(certs), ClientAuth::Secret(secret));
        config.transport = self.transport;
        config.limits = self.limits;
        // Until the client holds them, the workers stop if this future is dropped or fails.
        let client = Client::connect(addrs, config).await?;
        for worker in owned {
            client.keep(worker);
        }
        if let Some(addr) = &self.dashboard {
            let dashboard = Dashboard::start(
                client.metrics_arc(),
                &ServeAddr::lookup(addr.as_str()).await,
            )?;
            client.keep_dashboard(dashboard);
        }
        Ok(client)
    }
}

impl Owned for Worker {
    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()> {
        Worker::shutdown(*self).boxed()
    }
}

impl Owned for WorkerProcess {
    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()> {
        WorkerProcess::shutdown(*self).boxed()
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

impl Client {
    /// Starts `workers` in-process workers, each a real QUIC endpoint on 127.0.0.1 with its own
    /// certificate, and connects to them: the embedded default.
    ///
    /// ```
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), rivulet::remote::ClusterError> {
    /// let client = rivulet::Client::local(2).await?;
    /// assert_eq!(client.workers().len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `workers` is 0.
    pub async fn local(workers: usize) -> Result<Client, ClusterError> {
        Client::builder().workers(workers).build().await
    }

    /// A builder for a client with workers of its own: how many, how many slots each, threads
    /// or child processes.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            workers: 2,
            slots: None,
            processes: false,
            worker_args: Vec::new(),
            transport: TransportSettings::default(),
            limits: Limits::default(),
            dashboard: None,
        }
    }
}
