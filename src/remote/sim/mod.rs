//! A deterministic simulation of the distributed mode: a real [`Client`] and N simulated workers,
//! connected in memory, on tokio's paused clock, with faults drawn from a seed.
//!
//! The client is the real one (its links, placement, lineage and recovery); each worker is the
//! real sans-IO [`WorkerSession`] driven by a small in-memory driver that runs the registered
//! functions in this process. Between them, every message takes a latency drawn from the seed
//! (in order, as on the one QUIC stream a connection has), and the schedule can kill a worker
//! (its connection goes, and its values with it), stall one for a while, make one slow, or
//! deliver a reply twice (a broken worker: the client must drop that link). Run it on a
//! current-thread runtime with the clock paused (`start_paused`), and the same seed replays the
//! same run.
//!
//! ```
//! use rivulet::prelude::*;
//! use rivulet::remote::sim::{Faults, Simulation};
//!
//! #[rivulet::remote]
//! fn triple(x: i64) -> i64 {
//!     3 * x
//! }
//!
//! let runtime = tokio::runtime::Builder::new_current_thread()
//!     .enable_time()
//!     .start_paused(true)
//!     .build()
//!     .unwrap();
//! runtime.block_on(async {
//!     let sim = Simulation::start(3, Faults::from_seed(7, 3));
//!     let out: Vec<_> = futures::stream::iter(0..20_i64)
//!         .scatter(sim.client())
//!         .map(triple)
//!         .buffered(4)
//!         .gather()
//!         .collect()
//!         .await;
//!     assert_eq!(out.len(), 20);
//!     assert!(out.iter().enumerate().all(|(i, r)| r.as_ref().is_ok_and(|v| *v == 3 * i as i64)));
//! });
//! ```

mod rng;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use self::rng::SimRng;
use crate::remote::client::{Client, Link};
use crate::remote::proto::{
    Action, ClientMessage, Failure, FailureKind, Key, Limits, Pull, Reply, Run, TaskId, TaskOutput,
    WorkerSession, unavailable,
};
use crate::remote::registry;
use crate::remote::worker::{GRANT_WAIT, GrantBoard};

/// What goes wrong in a simulated run, and when (in simulated time from the start).
#[derive(Debug, Clone)]
pub struct Faults {
    /// The seed behind every random choice of the run (latencies, task times, duplicates).
    pub seed: u64,
    /// One-way latency of a message: drawn uniformly from this range, in microseconds.
    pub latency_us: (u64, u64),
    /// How long a task takes on a slot: drawn uniformly from this range, in microseconds.
    pub task_time_us: (u64, u64),
    /// Task slots per worker.
    pub slots: usize,
    /// Workers killed, and when: their connection and values are gone.
    pub kills: Vec<(usize, Duration)>,
    /// Workers stalled (they read, run and send nothing) from a time, for a while.
    pub stalls: Vec<(usize, Duration, Duration)>,
    /// Workers whose tasks take this many times longer.
    pub slow: Vec<(usize, u32)>,
    /// Workers that, once, at this time, send a reply twice (a broken worker).
    pub duplicates: Vec<(usize, Duration)>,
    /// The client's request deadline ([`ConnectConfig::request_timeout`](crate::remote::ConnectConfig::request_timeout));
    /// `None` (the default here) waits for ever.
    pub request_timeout: Option<Duration>,
    /// Whether values move worker to worker (pulled by one simulated worker from another's
    /// grants, each pull taking a latency there and one back), as real workers do. Default
    /// `true`; with `false` every move goes through the client.
    pub peer_transfer: bool,
}

impl Faults {
    /// No faults: a latency of 20–80 µs, tasks of 10–200 µs, 2 slots per worker.
    pub fn none(seed: u64) -> Self {
        Faults {
            seed,
            latency_us: (20, 80),
            task_time_us: (10, 200),
            slots: 2,
            kills: Vec::new(),
            stalls: Vec::new(),
            slow: Vec::new(),
            duplicates: Vec::new(),
            request_timeout: None,
            peer_transfer: true,
        }
    }

    /// A random schedule for `workers` workers, from `seed`: each worker but the last may be
    /// killed, stalled, slow, or send a duplicate reply within the first 20 ms; one run in three
    /// has a request deadline of 30–60 ms, which a long stall (0.1–0.5 s) then runs into. The
    /// last worker is never killed, made slow or stalled for long, so a run always has a worker
    /// left.
    pub fn from_seed(seed: u64, workers: usize) -> Self {
        let mut rng = SimRng::new(seed);
        let mut faults = Faults::none(seed);
        faults.slots = 1 + rng.below(3) as usize;
        // One run in three has a request deadline of 30-60 ms, and then stalls may be long
        // enough to hit it (the last worker's own answers always come well within it).
        let deadline = rng.below(3) == 0;
        if deadline {
            faults.request_timeout = Some(Duration::from_micros(30_000 + rng.below(30_000)));
        }
        let at = |rng: &mut SimRng| Duration::from_micros(rng.below(20_000));
        for worker in 0..workers {
            let last = worker + 1 == workers;
            match rng.below(6) {
                0 | 1 if !last => faults.kills.push((worker, at(&mut rng))),
                2 => {
                    let from = at(&mut rng);
                    let long = deadline && !last && rng.below(2) == 0;
                    let length = if long {
                        Duration::from_micros(100_000 + rng.below(400_000))
                    } else {
                        Duration::from_micros(100 + rng.below(5_000))
                    };
                    faults.stalls.push((worker, from, length));
                }
                3 if !last => faults.slow.push((worker, 2 + rng.below(20) as u32)),
                4 if !last => faults.duplicates.push((worker, at(&mut rng))),
                _ => {}
            }
        }
        faults
    }

    /// Every worker killed, at random times within the first 10 ms.
    pub fn all_killed(seed: u64, workers: usize) -> Self {
        let mut rng = SimRng::new(seed);
        let mut faults = Faults::none(seed);
        for worker in 0..workers {
            faults
                .kills
                .push((worker, Duration::from_micros(rng.below(10_000))));
        }
        faults
    }
}

/// What a test can see of one simulated worker, and what its peers reach of it.
#[derive(Debug, Default)]
struct WorkerView {
    values_held: AtomicUsize,
    alive: AtomicBool,
    /// The values this worker's client granted to other workers (a real worker's board).
    grants: GrantBoard,
}

/// Every simulated worker's view, by address: where a pull finds its holder.
type Fabric = Arc<std::sync::RwLock<Vec<(SocketAddr, Arc<WorkerView>)>>>;

/// A running simulation: a client and its simulated workers. See the [module docs](self).
#[derive(Debug)]
pub struct Simulation {
    client: Client,
    workers: Vec<Arc<WorkerView>>,
    stop: CancellationToken,
}

impl Simulation {
    /// Starts `workers` simulated workers under `faults` and a client connected to them. Call
    /// it inside a tokio runtime, with the clock paused for a deterministic run.
    ///
    /// # Panics
    /// If `workers` is 0.
    pub fn start(workers: usize, faults: Faults) -> Simulation {
        Simulation::start_with(workers, faults, Limits::default())
    }

    /// [`start`](Self::start), with both sides held to `limits` (small pieces, say, so that
    /// values travel in many).
    ///
    /// # Panics
    /// If `workers` is 0.
    pub fn start_with(workers: usize, faults: Faults, limits: Limits) -> Simulation {
        crate::util::assert_nonzero(workers, "Simulation::start", "workers");
        let stop = CancellationToken::new();
        let mut rng = SimRng::new(faults.seed);
        let addrs: Vec<SocketAddr> = (0..workers)
            .map(|i| SocketAddr::from(([10, 0, 0, 1], 7000 + i as u16)))
            .collect();
        let mut views = Vec::with_capacity(workers);
        let fabric: Fabric = Arc::default();
        let client = Client::over_links(&addrs, |id, metrics| {
            let index = id.index();
            let view = Arc::new(WorkerView::default());
            view.alive.store(true, Ordering::Release);
            views.push(Arc::clone(&view));
            fabric
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push((id.addr(), Arc::clone(&view)));
            let (outgoing, incoming) = mpsc::unbounded_channel();
            let killed = stop.child_token();
            let closing = killed.clone();
            let link = Link::new(
                id,
                faults.slots as u32,
                outgoing,
                Box::new(move || closing.cancel()),
                Arc::clone(metrics),
                limits,
            );
            if let Some(timeout) = faults.request_timeout {
                link.watch_deadlines(timeout);
            }
            if faults.peer_transfer {
                link.serve_peers(id.addr(), bytes::Bytes::from_static(b"simulated"));
            }
            let worker = SimWorker {
                index,
                faults: faults.clone(),
                rng: rng.fork(),
                view,
                limits,
                fabric: Arc::clone(&fabric),
            };
            tokio::spawn(worker.run(incoming, Arc::downgrade(&link), killed));
            link
        });
        Simulation {
            client,
            workers: views,
            stop,
        }
    }

    /// The client connected to the simulated workers.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// How many values each worker holds now (0 for a worker that was killed).
    pub fn values_held(&self) -> Vec<usize> {
        self.workers
            .iter()
            .map(|w| w.values_held.load(Ordering::Acquire))
            .collect()
    }

    /// How many grants each worker holds for other workers (values granted and not yet
    /// pulled nor released; 0 for a worker that was killed).
    pub fn grants_open(&self) -> Vec<usize> {
        self.workers.iter().map(|w| w.grants.len()).collect()
    }

    /// Which workers are still alive.
    pub fn alive(&self) -> Vec<bool> {
        self.workers
            .iter()
            .map(|w| w.alive.load(Ordering::Acquire))
            .collect()
    }
}

impl Drop for Simulation {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

struct SimWorker {
    index: usize,
    faults: Faults,
    rng: SimRng,
    view: Arc<WorkerView>,
    limits: Limits,
    fabric: Fabric,
}

type Finished = (TaskId, Result<TaskOutput, Failure>);

impl SimWorker {
    fn draw(rng: &mut SimRng, (low, high): (u64, u64)) -> Duration {
        Duration::from_micros(low + rng.below(high.saturating_sub(low).max(1)))
    }

    async fn run(
        mut self,
        mut incoming: mpsc::UnboundedReceiver<ClientMessage>,
        link: std::sync::Weak<Link>,
        killed: CancellationToken,
    ) {
        let start = tokio::time::Instant::now();
        let kill_at = self
            .faults
            .kills
            .iter()
            .filter(|(w, _)| *w == self.index)
            .map(|(_, at)| start + *at)
            .min();
        let stalls: Vec<(tokio::time::Instant, Duration)> = self
            .faults
            .stalls
            .iter()
            .filter(|(w, _, _)| *w == self.index)
            .map(|(_, from, length)| (start + *from, *length))
            .collect();
        let slow = self
            .faults
            .slow
            .iter()
            .filter(|(w, _)| *w == self.index)
            .map(|(_, factor)| *factor)
            .product::<u32>()
            .max(1);
        let mut duplicate_at = self
            .faults
            .duplicates
            .iter()
            .filter(|(w, _)| *w == self.index)
            .map(|(_, at)| start + *at)
            .min();

        // Messages travel in order, each batch arriving a drawn latency after it was sent, as
        // on one QUIC stream.
        let (arrived_tx, mut arrived) = mpsc::unbounded_channel::<ClientMessage>();
        let mut net_rng = self.rng.fork();
        let latency = self.faults.latency_us;
        let inbound = async move {
            let mut batch = Vec::new();
            while incoming.recv_many(&mut batch, usize::MAX).await > 0 {
                // What was sent together travels together, as bytes on one stream do: the
                // link carries any number of messages at once, each batch a latency late.
                let at = tokio::time::Instant::now() + Self::draw(&mut net_rng, latency);
                tokio::time::sleep_until(at).await;
                for message in batch.drain(..) {
                    if arrived_tx.send(message).is_err() {
                        return;
                    }
                }
            }
        };
        let (replies_tx, mut replies) = mpsc::unbounded_channel::<Reply>();
        let mut reply_rng = self.rng.fork();
        let replying = link.clone();
        let outbound = async move {
            let mut batch = Vec::new();
            while replies.recv_many(&mut batch, usize::MAX).await > 0 {
                let at = tokio::time::Instant::now() + Self::draw(&mut reply_rng, latency);
                tokio::time::sleep_until(at).await;
                let Some(link) = replying.upgrade() else {
                    break;
                };
                for reply in batch.drain(..) {
                    let twice = duplicate_at.is_some_and(|d| tokio::time::Instant::now() >= d);
                    if twice {
                        duplicate_at = None;
                        link.deliver(reply.clone());
                    }
                    link.deliver(reply);
                }
            }
        };

        let view = Arc::clone(&self.view);
        let mut session = WorkerSession::new(self.limits);
        let mut pulling: FuturesUnordered<BoxFuture<'static, (Key, Result<Bytes, Failure>)>> =
            FuturesUnordered::new();
        let mut pull_rng = self.rng.fork();
        let fabric = Arc::clone(&self.fabric);
        let mut running: FuturesUnordered<BoxFuture<'static, Finished>> = FuturesUnordered::new();
        let slots = self.faults.slots.max(1);
        let mut queued: std::collections::VecDeque<Run> = std::collections::VecDeque::new();
        let mut task_rng = self.rng.fork();
        let task_time = self.faults.task_time_us;
        let core = async {
            loop {
                if let Some((_, length)) = stalls
                    .iter()
                    .find(|(from, length)| {
                        let now = tokio::time::Instant::now();
                        now >= *from && now < *from + *length
                    })
                    .copied()
                {
                    tokio::time::sleep(length).await;
                }
                tokio::select! {
                    Some((task, outcome)) = running.next(), if !running.is_empty() => {
                        session.finished(task, outcome);
                    }
                    Some((key, outcome)) = pulling.next(), if !pulling.is_empty() => {
                        session.pulled(key, outcome);
                    }
                    message = arrived.recv() => match message {
                        Some(message) => {
                            let known = |name: &str| registry::lookup(name).is_some();
                            if session.handle(message, known).is_err() {
                                // A violation closes the connection, as a real worker does.
                                break;
                            }
                        }
                        None => break,
                    },
                }
                while let Some(action) = session.poll_action() {
                    match action {
                        Action::Send(reply) => drop(replies_tx.send(reply)),
                        Action::Run(run) => queued.push_back(run),
                        Action::Offer { token, value } => {
                            view.grants.offer(token, 0, value);
                        }
                        Action::Revoke(tokens) => view.grants.revoke(&tokens),
                        Action::Pull(pull) => {
                            let there = Self::draw(&mut pull_rng, latency);
                            let back = Self::draw(&mut pull_rng, latency);
                            let holder = fabric
                                .read()
                                .unwrap_or_else(|poisoned| poisoned.into_inner())
                                .iter()
                                .find(|(addr, _)| *addr == pull.from.addr)
                                .map(|(_, view)| Arc::clone(view));
                            pulling.push(
                                async move {
                                    let outcome = sim_pull(holder, &pull, there, back).await;
                                    (pull.key, outcome)
                                }
                                .boxed(),
                            );
                        }
                    }
                }
                while running.len() < slots {
                    let Some(run) = queued.pop_front() else { break };
                    let took = Self::draw(&mut task_rng, task_time) * slow;
                    running.push(
                        async move {
                            tokio::time::sleep(took).await;
                            let task = run.task;
                            (task, run_now(run))
                        }
                        .boxed(),
                    );
                }
                view.values_held
                    .store(session.values_held(), Ordering::Release);
            }
        };
        let killed_at = async {
            match kill_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = inbound => {}
            () = outbound => {}
            () = core => {}
            () = killed_at => {}
            () = killed.cancelled() => {}
        }
        // The connection is gone: the worker forgets this client's values, the client hears it.
        self.view.values_held.store(0, Ordering::Release);
        self.view.alive.store(false, Ordering::Release);
        self.view.grants.close();
        if let Some(link) = link.upgrade() {
            link.lost();
        }
    }
}

/// One simulated pull: a latency to reach the holder, its grant (waited for a while, as a real
/// holder does), a latency back; a holder dead at either end gives nothing.
async fn sim_pull(
    holder: Option<Arc<WorkerView>>,
    pull: &Pull,
    there: Duration,
    back: Duration,
) -> Result<Bytes, Failure> {
    let gone = || unavailable(pull.from.addr, "the holder is gone");
    let holder = holder.ok_or_else(gone)?;
    tokio::time::sleep(there).await;
    // The holder's board waits as a real holder's does; it closes when the holder dies.
    let granted = holder
        .grants
        .take_within(&pull.from.token, GRANT_WAIT)
        .await;
    if !holder.alive.load(Ordering::Acquire) {
        return Err(gone());
    }
    let granted =
        granted.ok_or_else(|| unavailable(pull.from.addr, "refused: no grant for this token"))?;
    tokio::time::sleep(back).await;
    if !holder.alive.load(Ordering::Acquire) {
        return Err(gone());
    }
    granted
}

/// Runs a registered function here and now, as a worker's slot would.
fn run_now(run: Run) -> Result<TaskOutput, Failure> {
    let registration = registry::lookup(&run.function)
        .ok_or_else(|| Failure::new(FailureKind::Decode, "unknown function"))?;
    registration.run_task(run.kind, &run.params, &run.input)
}
