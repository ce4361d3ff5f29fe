//! What a client records about its workers and tasks, for the dashboard and `/metrics`.
//!
//! The client's links call the `on_*` hooks on every request and reply, so the hooks touch only
//! atomics and one short per-worker lock (its values held and recent tasks). Everything else
//! reads: [`Metrics::snapshot`] (what the dashboard's page shows) and [`Metrics::prometheus`]
//! (the `/metrics` text).
//!
//! What the client sees is what it measures: a task's time runs from its submission to its
//! reply (queueing on the worker included), a worker's busy slots are its tasks in flight up to
//! its slot count, and the values it holds are those the client has asked it to keep and not
//! released yet.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::membership::{MemberChange, Membership, MembershipSnapshot};
use crate::remote::proto::WorkerId;
use crate::remote::proto::{Key, Request, Response, TaskKind};
use crate::util::lock;

/// How many finished tasks each worker's record keeps for the task stream.
const TASKS_KEPT: usize = 512;
/// About how many task records one snapshot carries across the fleet: each worker's share is
/// this divided among the workers, between [`TASKS_SHOWN_MIN`] and [`TASKS_KEPT`], so a poll of
/// 1,000 workers copies 16,000 records instead of half a million (up to 8 workers see all 512).
const TASKS_SHOWN: usize = 4096;
/// The fewest recent tasks a snapshot shows of each worker.
const TASKS_SHOWN_MIN: usize = 16;
/// How many recent errors are kept.
const ERRORS_KEPT: usize = 100;
/// How long an error message may be in the record (a panic's message can be long).
const MESSAGE_LIMIT: usize = 2000;
/// How often the throughput and latency history takes a sample, and how many it keeps.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
const SAMPLES_KEPT: usize = 300;
/// The window of the "latency now" figures, in samples.
const RECENT_SAMPLES: usize = 10;

/// Upper bounds of the round-trip latency buckets, in seconds (Prometheus's `le`); one more
/// bucket counts everything slower.
const LATENCY_BOUNDS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 10.0,
];
const BUCKETS: usize = LATENCY_BOUNDS.len() + 1;

/// The label of the function a zip task runs (it runs none).
const ZIP_LABEL: &str = "<zip>";
/// The label of the batches `partition` and the other windows build.
const COLLECT_LABEL: &str = "<collect>";
/// The label of the tasks `flatten` cuts a batch with.
const SPLIT_LABEL: &str = "<split>";

/// The client's record of its workers and tasks (one per client, shared by its links).
///
/// Read it through [`Client::metrics`](crate::Client::metrics):
///
/// ```
/// use rivulet::prelude::*;
///
/// #[rivulet::remote]
/// fn inc(x: i64) -> i64 {
///     x + 1
/// }
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = rivulet::Client::local(2).await?;
/// let out: Vec<_> = futures::stream::iter(0..10).scatter(&client).map(inc).gather().collect().await;
/// assert_eq!(out.len(), 10);
/// let snapshot = client.metrics().snapshot();
/// assert_eq!(snapshot.totals.finished, 10);
/// assert!(client.metrics().prometheus().contains("rivulet_tasks_finished_total"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    /// By worker index (`None` for an index not announced yet).
    workers: RwLock<Vec<Option<Arc<WorkerRecord>>>>,
    totals: Totals,
    /// Round trips by kind: submit (a task to its reply), fetch (a value asked for to here).
    latency: [Histogram; 3],
    errors: Mutex<VecDeque<ErrorRecord>>,
    history: Mutex<VecDeque<Sample>>,
    /// Cancelled when the client goes: its dashboards stop with it.
    closed: CancellationToken,
    /// Workers joining and leaving a discovered fleet.
    membership: Membership,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            workers: RwLock::new(Vec::new()),
            totals: Totals::default(),
            latency: Default::default(),
            errors: Mutex::new(VecDeque::new()),
            history: Mutex::new(VecDeque::new()),
            closed: CancellationToken::new(),
            membership: Membership::default(),
        }
    }
}

impl Drop for Metrics {
    fn drop(&mut self) {
        self.closed.cancel();
    }
}

/// Counts over every worker, kept apart so that a snapshot of history needs no locks.
#[derive(Debug, Default)]
struct Totals {
    scattered: AtomicU64,
    submitted: AtomicU64,
    finished: AtomicU64,
    failed: AtomicU64,
    lost: AtomicU64,
    gathered: AtomicU64,
    /// Bytes of values moved from one worker to another through the client (fetched, then
    /// sent again), and directly between the workers.
    moved_through_client: AtomicU64,
    moved_between_workers: AtomicU64,
}

/// What a link remembers about a request in flight, to pair it with its response.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    pub(crate) sent: Instant,
    kind: RequestKind,
    worker: Option<Arc<WorkerRecord>>,
    /// The function of a submitted task.
    function: Option<Arc<FunctionRecord>>,
    /// The keys of a task's outputs (at most two: an accumulation's state and item).
    outputs: [Option<Key>; 2],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestKind {
    Submit,
    Fetch,
    Pull,
}

impl RequestKind {
    const ALL: [RequestKind; 3] = [RequestKind::Submit, RequestKind::Fetch, RequestKind::Pull];

    fn of(request: &Request) -> Self {
        match request {
            Request::Submit(_) | Request::SubmitWith { .. } => RequestKind::Submit,
            Request::Fetch { .. } => RequestKind::Fetch,
            Request::Pull { .. } => RequestKind::Pull,
        }
    }

    fn label(self) -> &'static str {
        match self {
            RequestKind::Submit => "submit",
            RequestKind::Fetch => "fetch",
            RequestKind::Pull => "pull",
        }
    }
}

/// Everything about one worker.
#[derive(Debug)]
struct WorkerRecord {
    id: WorkerId,
    slots: AtomicU32,
    up: AtomicBool,
    /// Set once discovery retires it (its address left the name), and once it has left.
    draining: AtomicBool,
    left: AtomicBool,
    requests_in_flight: AtomicU64,
    tasks_in_flight: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    state: Mutex<WorkerState>,
}

#[derive(Debug, Default)]
struct WorkerState {
    /// The size of each value the worker keeps for the client (0 until a task's reply says).
    held: HashMap<Key, u64>,
    held_bytes: u64,
    functions: HashMap<Arc<str>, Arc<FunctionRecord>>,
    tasks: VecDeque<TaskRecord>,
    next_task: u64,
}

impl WorkerRecord {
    fn new(id: WorkerId, slots: u32) -> Self {
        WorkerRecord {
            id,
            slots: AtomicU32::new(slots),
            up: AtomicBool::new(true),
            draining: AtomicBool::new(false),
            left: AtomicBool::new(false),
            requests_in_flight: AtomicU64::new(0),
            tasks_in_flight: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            state: Mutex::new(WorkerState::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, WorkerState> {
        // Every update under this lock is a few assignments; a panic cannot leave it half-done.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The task counts of one function on one worker.
#[derive(Debug)]
struct FunctionRecord {
    name: Arc<str>,
    submitted: AtomicU64,
    finished: AtomicU64,
    failed: AtomicU64,
    lost: AtomicU64,
}

/// A finished task, for the task stream.
#[derive(Debug, Clone)]
struct TaskRecord {
    seq: u64,
    function: Arc<str>,
    start: Duration,
    end: Duration,
    outcome: TaskOutcome,
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TaskOutcome {
    /// It ran and its outputs are kept.
    Finished,
    /// Its function failed (or the worker rejected it).
    Failed,
    /// Its worker was lost before it answered.
    Lost,
}

#[derive(Debug, Clone)]
struct ErrorRecord {
    at: Duration,
    worker: Option<WorkerId>,
    what: &'static str,
    function: Option<Arc<str>>,
    message: String,
}

/// Cumulative counts at one moment, for the throughput and latency history.
#[derive(Debug, Clone)]
struct Sample {
    at: Duration,
    submitted: u64,
    finished: u64,
    gathered: u64,
    /// Submit round trips per latency bucket, and their total time.
    latency: [u64; BUCKETS],
    latency_sum_ns: u64,
}

/// A latency histogram with fixed buckets (Prometheus-style).
#[derive(Debug, Default)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last counts everything above the last bound.
    buckets: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BOUNDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BOUNDS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(nanos, Ordering::Relaxed);
    }

    fn counts(&self) -> [u64; BUCKETS] {
        std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed))
    }
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn drop_one(counter: &AtomicU64) {
    // Every decrement pairs with an earlier increment; saturate rather than wrap should a
    // hook ever be called twice.
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
        Some(n.saturating_sub(1))
    });
}

impl Metrics {
    fn worker(&self, worker: WorkerId) -> Arc<WorkerRecord> {
        let known = self
            .workers
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(worker.index())
            .and_then(Option::as_ref)
            .filter(|record| record.id == worker)
            .cloned();
        match known {
            Some(record) => record,
            // A worker is announced (`on_worker_up`) before its first request; this is only
            // a fallback that keeps the counts of an unannounced one.
            None => self.replace_worker(worker, 0),
        }
    }

    fn replace_worker(&self, worker: WorkerId, slots: u32) -> Arc<WorkerRecord> {
        let record = Arc::new(WorkerRecord::new(worker, slots));
        let mut workers = self
            .workers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let index = worker.index();
        if workers.len() <= index {
            workers.resize(index + 1, None);
        }
        // A worker that left stays gone: a redial that was under way when discovery retired
        // it makes a link that is closed at once, and is no new member.
        if workers[index]
            .as_ref()
            .is_some_and(|old| old.left.load(Ordering::Acquire))
        {
            record.left.store(true, Ordering::Release);
        }
        workers[index] = Some(Arc::clone(&record));
        record
    }

    fn elapsed(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.started)
    }

    fn record_error(
        &self,
        worker: Option<WorkerId>,
        what: &'static str,
        function: Option<Arc<str>>,
        message: &str,
    ) {
        let message = match message.char_indices().nth(MESSAGE_LIMIT) {
            Some((cut, _)) => format!("{}…", &message[..cut]),
            None => message.to_owned(),
        };
        let record = ErrorRecord {
            at: self.elapsed(Instant::now()),
            worker,
            what,
            function,
            message,
        };
        let mut errors = lock(&self.errors);
        if errors.len() == ERRORS_KEPT {
            errors.pop_front();
        }
        errors.push_back(record);
    }

    /// A value is being scattered to `worker` (a message with no reply).
    pub(crate) fn on_scatter(&self, worker: WorkerId, key: Key, size: usize) {
        let record = self.worker(worker);
        let size = size as u64;
        record.bytes_sent.fetch_add(size, Ordering::Relaxed);
        let mut state = record.state();
        if let Some(old) = state.held.insert(key, size) {
            state.held_bytes = state.held_bytes.saturating_sub(old);
        }
        state.held_bytes = state.held_bytes.saturating_add(size);
    }

    /// A value was placed on a worker (sent there now, or along with its first task).
    pub(crate) fn on_placed(&self) {
        bump(&self.totals.scattered);
    }

    /// A request is about to be sent to `worker`.
    pub(crate) fn on_request(&self, worker: WorkerId, request: &Request) -> InFlight {
        let record = self.worker(worker);
        let kind = RequestKind::of(request);
        let mut in_flight = InFlight {
            sent: Instant::now(),
            kind,
            worker: None,
            function: None,
            outputs: [None, None],
        };
        bump(&record.requests_in_flight);
        let (task, along) = match request {
            Request::Submit(task) => (Some(task), 0),
            Request::SubmitWith { task, inputs } => (
                Some(task),
                inputs.iter().map(|(_, value)| value.len()).sum(),
            ),
            Request::Fetch { .. } | Request::Pull { .. } => (None, 0),
        };
        if let Some(task) = task {
            {
                record
                    .bytes_sent
                    .fetch_add((task.params.len() + along) as u64, Ordering::Relaxed);
                bump(&record.tasks_in_flight);
                bump(&self.totals.submitted);
                let label = match task.kind {
                    TaskKind::Zip => ZIP_LABEL,
                    TaskKind::Collect => COLLECT_LABEL,
                    TaskKind::Split => SPLIT_LABEL,
                    _ => task.function.as_str(),
                };
                let mut state = record.state();
                for (slot, key) in in_flight.outputs.iter_mut().zip(&task.outputs) {
                    *slot = Some(*key);
                    state.held.entry(*key).or_insert(0);
                }
                let function = match state.functions.get(label) {
                    Some(function) => Arc::clone(function),
                    None => {
                        let name: Arc<str> = Arc::from(label);
                        let function = Arc::new(FunctionRecord {
                            name: Arc::clone(&name),
                            submitted: AtomicU64::new(0),
                            finished: AtomicU64::new(0),
                            failed: AtomicU64::new(0),
                            lost: AtomicU64::new(0),
                        });
                        state.functions.insert(name, Arc::clone(&function));
                        function
                    }
                };
                drop(state);
                bump(&function.submitted);
                in_flight.function = Some(function);
            }
        }
        in_flight.worker = Some(record);
        in_flight
    }

    /// The response to a request arrived (or `None`: the worker was lost first).
    pub(crate) fn on_response(
        &self,
        worker: WorkerId,
        request: InFlight,
        response: Option<&Response>,
    ) {
        let now = Instant::now();
        let record = match request.worker {
            Some(record) => record,
            None => self.worker(worker),
        };
        drop_one(&record.requests_in_flight);
        // A fetch request is one part of a fetch, which `on_gathered` counts whole.
        if response.is_some() && request.kind != RequestKind::Fetch {
            self.latency[request.kind as usize]
                .observe(now.saturating_duration_since(request.sent));
        }
        match request.kind {
            RequestKind::Submit => {
                drop_one(&record.tasks_in_flight);
                let outcome = match response {
                    Some(Response::Done { .. }) => TaskOutcome::Finished,
                    Some(_) => TaskOutcome::Failed,
                    None => TaskOutcome::Lost,
                };
                let function = request.function;
                if let Some(function) = &function {
                    bump(match outcome {
                        TaskOutcome::Finished => &function.finished,
                        TaskOutcome::Failed => &function.failed,
                        TaskOutcome::Lost => &function.lost,
                    });
                }
                bump(match outcome {
                    TaskOutcome::Finished => &self.totals.finished,
                    TaskOutcome::Failed => &self.totals.failed,
                    TaskOutcome::Lost => &self.totals.lost,
                });
                let name =
                    function.map_or_else(|| Arc::from(""), |function| Arc::clone(&function.name));
                let message = match response {
                    Some(Response::Failed(failure)) => Some(failure.message.as_str()),
                    Some(Response::Rejected(message)) => Some(message.as_str()),
                    _ => None,
                };
                if let Some(message) = message {
                    self.record_error(
                        Some(worker),
                        "task failed",
                        Some(Arc::clone(&name)),
                        message,
                    );
                }
                let returned: u64 = match response {
                    Some(Response::Done { values, .. }) => values
                        .iter()
                        .flatten()
                        .map(|value| value.len() as u64)
                        .sum(),
                    _ => 0,
                };
                record.bytes_received.fetch_add(returned, Ordering::Relaxed);
                let mut state = record.state();
                if let Some(Response::Done { sizes, .. }) = response {
                    for (key, size) in request.outputs.iter().flatten().zip(sizes) {
                        // A value released before its task finished is no longer held.
                        if let Some(held) = state.held.get_mut(key) {
                            let old = std::mem::replace(held, *size);
                            // Sizes are the worker's word: saturate rather than trust them.
                            state.held_bytes =
                                state.held_bytes.saturating_sub(old).saturating_add(*size);
                        }
                    }
                }
                let seq = state.next_task;
                state.next_task += 1;
                if state.tasks.len() == TASKS_KEPT {
                    state.tasks.pop_front();
                }
                state.tasks.push_back(TaskRecord {
                    seq,
                    function: name,
                    start: self.elapsed(request.sent),
                    end: self.elapsed(now),
                    outcome,
                });
            }
            // The bytes went worker to worker; `on_moved` counts them.
            RequestKind::Pull => {}
            RequestKind::Fetch => match response {
                Some(Response::Value(bytes)) => {
                    record
                        .bytes_received
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                // A fetch of a failed task's value repeats the task's error: already recorded.
                Some(Response::Rejected(message)) => {
                    self.record_error(Some(worker), "fetch rejected", None, message);
                }
                _ => {}
            },
        }
    }

    /// The client released a value on `worker`.
    pub(crate) fn on_release(&self, worker: WorkerId, key: Key) {
        let record = self.worker(worker);
        let mut state = record.state();
        if let Some(size) = state.held.remove(&key) {
            state.held_bytes = state.held_bytes.saturating_sub(size);
        }
    }

    /// A worker was welcomed, with `slots` task slots.
    pub(crate) fn on_worker_up(&self, worker: WorkerId, slots: u32) {
        self.replace_worker(worker, slots);
    }

    /// A worker's connection was lost (or closed).
    pub(crate) fn on_worker_lost(&self, worker: WorkerId) {
        let record = self.worker(worker);
        if record.up.swap(false, Ordering::AcqRel) && !self.closed.is_cancelled() {
            self.record_error(
                Some(worker),
                "worker lost",
                None,
                "the connection to the worker ended",
            );
        }
        let mut state = record.state();
        // Its values went with it.
        state.held.clear();
        state.held_bytes = 0;
    }

    /// A discovered fleet's membership (the dashboard and `/metrics` show it).
    pub(crate) fn membership(&self) -> &Membership {
        &self.membership
    }

    /// Records a membership change now.
    pub(crate) fn on_membership(
        &self,
        worker: Option<WorkerId>,
        addr: Option<std::net::SocketAddr>,
        change: MemberChange,
        detail: String,
    ) {
        let at = self.elapsed(Instant::now());
        self.membership.record(at, worker, addr, change, detail);
    }

    /// Discovery retires `worker`: it takes no new work and will leave.
    pub(crate) fn on_worker_draining(&self, worker: WorkerId) {
        self.worker(worker).draining.store(true, Ordering::Relaxed);
        self.on_membership(
            Some(worker),
            Some(worker.addr()),
            MemberChange::Draining,
            String::new(),
        );
    }

    /// A retired worker is closed on purpose: it is not counted as lost.
    pub(crate) fn on_worker_left(&self, worker: WorkerId, detail: String) {
        let record = self.worker(worker);
        // A worker leaves once: discovery's drain and a redial that finds it retired may both
        // report it, in either order, and only the first is a departure.
        if record.left.swap(true, Ordering::AcqRel) {
            return;
        }
        // Down already: `on_worker_lost`, which the close calls, records no error for it.
        record.up.store(false, Ordering::Release);
        self.on_membership(
            Some(worker),
            Some(worker.addr()),
            MemberChange::Left,
            detail,
        );
    }

    /// A value was brought back to the client ([`RemoteFuture::fetch`](crate::RemoteFuture::fetch),
    /// which `gather` calls for every item), `asked` being when it was asked for: one fetch in
    /// the `kind="fetch"` histogram, whether the value came with its task's reply or by a fetch
    /// request of its own.
    pub(crate) fn on_gathered(&self, asked: Instant) {
        bump(&self.totals.gathered);
        self.latency[RequestKind::Fetch as usize].observe(asked.elapsed());
    }

    /// A value of `bytes` bytes was moved to another worker: directly between the workers, or
    /// through the client.
    pub(crate) fn on_moved(&self, bytes: u64, between_workers: bool) {
        let counter = if between_workers {
            &self.totals.moved_between_workers
        } else {
            &self.totals.moved_through_client
        };
        counter.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Bytes of values a task needed on another worker than theirs that came through this
    /// client (fetched from one worker, sent to the other). With workers that pass values to
    /// each other (clients authenticated by a shared secret) only values already here do.
    ///
    /// ```
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// assert_eq!(client.metrics().bytes_moved_through_client(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn bytes_moved_through_client(&self) -> u64 {
        load(&self.totals.moved_through_client)
    }

    /// Bytes of values that went directly from one worker to another for a task of this
    /// client (worker-to-worker transfer), never through the client.
    ///
    /// ```
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// assert_eq!(client.metrics().bytes_moved_between_workers(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn bytes_moved_between_workers(&self) -> u64 {
        load(&self.totals.moved_between_workers)
    }

    /// The client is going away (its dashboards stop).
    pub(crate) fn closed(&self) -> &CancellationToken {
        &self.closed
    }

    /// Takes a sample for the throughput and latency history if the last one is a
    /// [`SAMPLE_EVERY`] old (the dashboard calls this several times a second).
    pub(crate) fn sample_if_due(&self) {
        let at = self.elapsed(Instant::now());
        let mut history = lock(&self.history);
        if history
            .back()
            .is_some_and(|last| at < last.at + SAMPLE_EVERY)
        {
            return;
        }
        let latency = &self.latency[RequestKind::Submit as usize];
        if history.len() == SAMPLES_KEPT {
            history.pop_front();
        }
        history.push_back(Sample {
            at,
            submitted: load(&self.totals.submitted),
            finished: load(&self.totals.finished),
            gathered: load(&self.totals.gathered),
            latency: latency.counts(),
            latency_sum_ns: load(&latency.sum_ns),
        });
    }

    fn workers(&self) -> Vec<Arc<WorkerRecord>> {
        self.workers
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// Everything the dashboard shows, as of now.
    pub fn snapshot(&self) -> Snapshot {
        self.sample_if_due();
        let now = self.elapsed(Instant::now());
        let mut workers = Vec::new();
        let mut functions = Vec::new();
        let mut tasks = Vec::new();
        let records = self.workers();
        let shown = (TASKS_SHOWN / records.len().max(1)).clamp(TASKS_SHOWN_MIN, TASKS_KEPT);
        for record in records {
            let (values_held, bytes_held, worker_functions, worker_tasks) = {
                let state = record.state();
                let functions: Vec<Arc<FunctionRecord>> =
                    state.functions.values().cloned().collect();
                // The most recent `shown`, copied under the lock and no more.
                let skip = state.tasks.len().saturating_sub(shown);
                let recent: Vec<TaskRecord> = state.tasks.iter().skip(skip).cloned().collect();
                (state.held.len(), state.held_bytes, functions, recent)
            };
            let slots = record.slots.load(Ordering::Relaxed);
            let up = record.up.load(Ordering::Relaxed);
            let tasks_in_flight = load(&record.tasks_in_flight);
            let mut counts = [0u64; 3];
            for function in &worker_functions {
                counts[0] += load(&function.submitted);
                counts[1] += load(&function.finished);
                counts[2] += load(&function.failed);
                functions.push(FunctionSnapshot {
                    worker: record.id.index(),
                    function: function.name.to_string(),
                    submitted: load(&function.submitted),
                    finished: load(&function.finished),
                    failed: load(&function.failed),
                    lost: load(&function.lost),
                });
            }
            tasks.extend(worker_tasks.into_iter().map(|task| TaskSnapshot {
                worker: record.id.index(),
                seq: task.seq,
                function: task.function.to_string(),
                start_ms: millis(task.start),
                end_ms: millis(task.end),
                outcome: task.outcome,
            }));
            let status = if record.left.load(Ordering::Relaxed) {
                "left"
            } else if record.draining.load(Ordering::Relaxed) {
                "draining"
            } else if up {
                "connected"
            } else {
                "lost"
            };
            workers.push(WorkerSnapshot {
                index: record.id.index(),
                addr: record.id.addr().to_string(),
                connected: up,
                status,
                slots,
                busy_slots: if up {
                    tasks_in_flight.min(u64::from(slots)) as u32
                } else {
                    0
                },
                tasks_in_flight,
                requests_in_flight: load(&record.requests_in_flight),
                values_held,
                bytes_held,
                bytes_sent: load(&record.bytes_sent),
                bytes_received: load(&record.bytes_received),
                submitted: counts[0],
                finished: counts[1],
                failed: counts[2],
            });
        }
        functions.sort_by(|a, b| (a.worker, &a.function).cmp(&(b.worker, &b.function)));
        let history: Vec<Sample> = lock(&self.history).iter().cloned().collect();
        let errors = lock(&self.errors)
            .iter()
            .rev()
            .map(|error| ErrorSnapshot {
                at_ms: millis(error.at),
                worker: error.worker.map(|worker| worker.index()),
                what: error.what.to_owned(),
                function: error.function.as_deref().map(str::to_owned),
                message: error.message.clone(),
            })
            .collect();
        let submit = &self.latency[RequestKind::Submit as usize];
        let recent_from = history.len().saturating_sub(RECENT_SAMPLES + 1);
        let latency_now = match history.get(recent_from) {
            Some(from) => latency_between(
                &from.latency,
                &submit.counts(),
                from.latency_sum_ns,
                load(&submit.sum_ns),
            ),
            None => latency_between(&[0; BUCKETS], &submit.counts(), 0, load(&submit.sum_ns)),
        };
        Snapshot {
            now_ms: millis(now),
            workers,
            functions,
            tasks,
            totals: TotalsSnapshot {
                scattered: load(&self.totals.scattered),
                submitted: load(&self.totals.submitted),
                finished: load(&self.totals.finished),
                failed: load(&self.totals.failed),
                lost: load(&self.totals.lost),
                gathered: load(&self.totals.gathered),
            },
            throughput: history
                .windows(2)
                .map(|pair| {
                    let seconds = (pair[1].at - pair[0].at).as_secs_f64().max(1e-9);
                    let rate = |f: fn(&Sample) -> u64| (f(&pair[1]) - f(&pair[0])) as f64 / seconds;
                    ThroughputPoint {
                        at_ms: millis(pair[1].at),
                        submitted: rate(|s| s.submitted),
                        finished: rate(|s| s.finished),
                        gathered: rate(|s| s.gathered),
                    }
                })
                .collect(),
            latency: history
                .windows(2)
                .map(|pair| LatencyPoint {
                    at_ms: millis(pair[1].at),
                    ..latency_between(
                        &pair[0].latency,
                        &pair[1].latency,
                        pair[0].latency_sum_ns,
                        pair[1].latency_sum_ns,
                    )
                })
                .collect(),
            latency_now,
            errors,
            membership: self.membership.snapshot(),
        }
    }

    /// The metrics in Prometheus's text exposition format (what `/metrics` serves).
    pub fn prometheus(&self) -> String {
        let mut out = String::with_capacity(4096);
        let workers = self.workers();
        let labels = |record: &WorkerRecord| {
            format!(
                "worker=\"{}\",addr=\"{}\"",
                record.id.index(),
                record.id.addr()
            )
        };
        header(
            &mut out,
            "rivulet_worker_up",
            "gauge",
            "Whether the client's connection to the worker is up (1) or lost (0).",
        );
        for record in &workers {
            let up = u8::from(record.up.load(Ordering::Relaxed));
            let _ = writeln!(out, "rivulet_worker_up{{{}}} {up}", labels(record));
        }
        header(
            &mut out,
            "rivulet_worker_draining",
            "gauge",
            "Whether the worker is retired by discovery (1: draining or left, 0: a member).",
        );
        for record in &workers {
            let draining = u8::from(record.draining.load(Ordering::Relaxed));
            let _ = writeln!(
                out,
                "rivulet_worker_draining{{{}}} {draining}",
                labels(record)
            );
        }
        self.membership.prometheus(&mut out);
        header(
            &mut out,
            "rivulet_worker_slots",
            "gauge",
            "Task slots the worker announced.",
        );
        for record in &workers {
            let _ = writeln!(
                out,
                "rivulet_worker_slots{{{}}} {}",
                labels(record),
                record.slots.load(Ordering::Relaxed)
            );
        }
        let per_worker: [WorkerSeries; 6] = [
            (
                "rivulet_tasks_in_flight",
                "gauge",
                "Tasks submitted to the worker and not answered yet.",
                |r| load(&r.tasks_in_flight),
            ),
            (
                "rivulet_requests_in_flight",
                "gauge",
                "Requests (scatters, tasks, fetches) sent to the worker and not answered yet.",
                |r| load(&r.requests_in_flight),
            ),
            (
                "rivulet_values_held",
                "gauge",
                "Values the worker keeps for the client.",
                |r| r.state().held.len() as u64,
            ),
            (
                "rivulet_values_held_bytes",
                "gauge",
                "Encoded size of the values the worker keeps for the client.",
                |r| r.state().held_bytes,
            ),
            (
                "rivulet_sent_bytes_total",
                "counter",
                "Value and parameter bytes sent to the worker.",
                |r| load(&r.bytes_sent),
            ),
            (
                "rivulet_received_bytes_total",
                "counter",
                "Value bytes received from the worker.",
                |r| load(&r.bytes_received),
            ),
        ];
        for (name, kind, help, value) in per_worker {
            header(&mut out, name, kind, help);
            for record in &workers {
                let _ = writeln!(out, "{name}{{{}}} {}", labels(record), value(record));
            }
        }
        let per_function: [FunctionSeries; 4] = [
            ("rivulet_tasks_submitted_total", "Tasks submitted.", |f| {
                load(&f.submitted)
            }),
            (
                "rivulet_tasks_finished_total",
                "Tasks that ran and kept their outputs.",
                |f| load(&f.finished),
            ),
            (
                "rivulet_tasks_failed_total",
                "Tasks whose function failed, or that the worker rejected.",
                |f| load(&f.failed),
            ),
            (
                "rivulet_tasks_lost_total",
                "Tasks whose worker was lost before it answered.",
                |f| load(&f.lost),
            ),
        ];
        let functions: Vec<(&WorkerRecord, Vec<Arc<FunctionRecord>>)> = workers
            .iter()
            .map(|record| {
                let mut functions: Vec<_> = record.state().functions.values().cloned().collect();
                functions.sort_by(|a, b| a.name.cmp(&b.name));
                (&**record, functions)
            })
            .collect();
        for (name, help, value) in per_function {
            header(&mut out, name, "counter", help);
            for (record, functions) in &functions {
                for function in functions {
                    let _ = writeln!(
                        out,
                        "{name}{{{},function=\"{}\"}} {}",
                        labels(record),
                        escape_label(&function.name),
                        value(function)
                    );
                }
            }
        }
        header(
            &mut out,
            "rivulet_values_gathered_total",
            "counter",
            "Values brought back to the client (gather, fetch).",
        );
        let _ = writeln!(
            out,
            "rivulet_values_gathered_total {}",
            load(&self.totals.gathered)
        );
        header(
            &mut out,
            "rivulet_values_scattered_total",
            "counter",
            "Values sent to workers by scatter.",
        );
        let _ = writeln!(
            out,
            "rivulet_values_scattered_total {}",
            load(&self.totals.scattered)
        );
        header(
            &mut out,
            "rivulet_moved_bytes_total",
            "counter",
            "Bytes of values moved from one worker to another: through the client, or directly between workers.",
        );
        let _ = writeln!(
            out,
            "rivulet_moved_bytes_total{{via=\"client\"}} {}\nrivulet_moved_bytes_total{{via=\"workers\"}} {}",
            load(&self.totals.moved_through_client),
            load(&self.totals.moved_between_workers)
        );
        let name = "rivulet_request_duration_seconds";
        header(
            &mut out,
            name,
            "histogram",
            "Round trips by kind: submit, from sending a task to its reply; fetch, from asking for a value (fetch or gather) to having it here, whether it came with its task's reply or by a fetch request.",
        );
        for kind in RequestKind::ALL {
            let histogram = &self.latency[kind as usize];
            let counts = histogram.counts();
            let mut cumulative = 0;
            for (bound, count) in LATENCY_BOUNDS.iter().zip(&counts) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{kind=\"{}\",le=\"{bound}\"}} {cumulative}",
                    kind.label()
                );
            }
            cumulative += counts[BUCKETS - 1];
            let _ = writeln!(
                out,
                "{name}_bucket{{kind=\"{}\",le=\"+Inf\"}} {cumulative}",
                kind.label()
            );
            let sum = load(&histogram.sum_ns) as f64 / 1e9;
            let _ = writeln!(out, "{name}_sum{{kind=\"{}\"}} {sum}", kind.label());
            let _ = writeln!(
                out,
                "{name}_count{{kind=\"{}\"}} {cumulative}",
                kind.label()
            );
        }
        out
    }
}

/// A per-worker series of `/metrics`: name, type, help, and how to read it.
type WorkerSeries = (
    &'static str,
    &'static str,
    &'static str,
    fn(&WorkerRecord) -> u64,
);
/// A per-function counter of `/metrics`: name, help, and how to read it.
type FunctionSeries = (&'static str, &'static str, fn(&FunctionRecord) -> u64);

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as Prometheus's text format wants it.
pub(crate) fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// The latency of the round trips counted between two cumulative samples.
fn latency_between(
    from: &[u64; BUCKETS],
    to: &[u64; BUCKETS],
    from_sum: u64,
    to_sum: u64,
) -> LatencyPoint {
    let counts: [u64; BUCKETS] = std::array::from_fn(|i| to[i].saturating_sub(from[i]));
    let total: u64 = counts.iter().sum();
    let mean_ms = (total > 0).then(|| to_sum.saturating_sub(from_sum) as f64 / total as f64 / 1e6);
    LatencyPoint {
        at_ms: 0.0,
        count: total,
        mean_ms,
        p50_ms: quantile(&counts, total, 0.5),
        p99_ms: quantile(&counts, total, 0.99),
    }
}

/// A quantile estimated from bucket counts, interpolating inside the bucket (as Prometheus's
/// `histogram_quantile` does), in milliseconds.
fn quantile(counts: &[u64; BUCKETS], total: u64, q: f64) -> Option<f64> {
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, count) in counts.iter().enumerate() {
        if *count > 0 && (below + count) as f64 >= rank {
            let lower = if i == 0 { 0.0 } else { LATENCY_BOUNDS[i - 1] };
            // Above the last bound there is no upper edge: report the last bound.
            let Some(upper) = LATENCY_BOUNDS.get(i) else {
                return Some(lower * 1e3);
            };
            let within = (rank - below as f64) / *count as f64;
            return Some((lower + (upper - lower) * within.clamp(0.0, 1.0)) * 1e3);
        }
        below += count;
    }
    None
}

/// Everything the dashboard shows, at one moment ([`Metrics::snapshot`]); `/api/state`
/// serves it as JSON. Times are milliseconds since the client started.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Snapshot {
    /// When the snapshot was taken.
    pub now_ms: f64,
    /// Every worker the client has had, connected or lost.
    pub workers: Vec<WorkerSnapshot>,
    /// Task counts per worker and function.
    pub functions: Vec<FunctionSnapshot>,
    /// The most recent finished tasks of each worker, oldest first.
    pub tasks: Vec<TaskSnapshot>,
    /// Counts over all workers.
    pub totals: TotalsSnapshot,
    /// Items per second, one point a second over the last minutes (while a dashboard runs).
    pub throughput: Vec<ThroughputPoint>,
    /// Task round-trip latency, one point a second over the last minutes.
    pub latency: Vec<LatencyPoint>,
    /// Task round-trip latency over the last ten seconds or so.
    pub latency_now: LatencyPoint,
    /// The most recent errors, newest first.
    pub errors: Vec<ErrorSnapshot>,
    /// The membership of a discovered fleet ([`Client::discover`](crate::Client::discover)).
    pub membership: MembershipSnapshot,
}

/// One worker, as the client sees it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct WorkerSnapshot {
    /// Its place in the client's list.
    pub index: usize,
    /// Its address.
    pub addr: String,
    /// Whether its connection is up.
    pub connected: bool,
    /// `connected`, `lost` (its connection ended; it is dialled again), `draining` (its
    /// address left the discovered name: no new work) or `left` (closed after draining).
    pub status: &'static str,
    /// Its task slots.
    pub slots: u32,
    /// Slots busy: its tasks in flight, up to its slots.
    pub busy_slots: u32,
    /// Tasks submitted to it and not answered yet (running or queued there).
    pub tasks_in_flight: u64,
    /// Requests of every kind not answered yet.
    pub requests_in_flight: u64,
    /// Values it keeps for the client.
    pub values_held: usize,
    /// Their encoded size (a task's outputs count once its reply gives their sizes).
    pub bytes_held: u64,
    /// Value and parameter bytes sent to it.
    pub bytes_sent: u64,
    /// Value bytes received from it.
    pub bytes_received: u64,
    /// Tasks submitted to it.
    pub submitted: u64,
    /// Its tasks that finished.
    pub finished: u64,
    /// Its tasks that failed.
    pub failed: u64,
}

/// The task counts of one function on one worker.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct FunctionSnapshot {
    /// The worker's index.
    pub worker: usize,
    /// The function's registered name (`<zip>` for zip tasks).
    pub function: String,
    /// Tasks submitted.
    pub submitted: u64,
    /// Tasks finished.
    pub finished: u64,
    /// Tasks failed.
    pub failed: u64,
    /// Tasks lost with their worker.
    pub lost: u64,
}

/// One finished task: from its submission to its reply.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct TaskSnapshot {
    /// The worker's index.
    pub worker: usize,
    /// The task's number among the worker's finished tasks (to tell new ones from old).
    pub seq: u64,
    /// The function it ran.
    pub function: String,
    /// When it was submitted.
    pub start_ms: f64,
    /// When its reply arrived.
    pub end_ms: f64,
    /// How it ended.
    pub outcome: TaskOutcome,
}

/// Counts over all workers.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct TotalsSnapshot {
    /// Values sent by scatter.
    pub scattered: u64,
    /// Tasks submitted.
    pub submitted: u64,
    /// Tasks finished.
    pub finished: u64,
    /// Tasks failed.
    pub failed: u64,
    /// Tasks lost with their worker.
    pub lost: u64,
    /// Values brought back (gathered or fetched).
    pub gathered: u64,
}

/// Items per second over one second.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ThroughputPoint {
    /// The end of the second.
    pub at_ms: f64,
    /// Tasks submitted per second.
    pub submitted: f64,
    /// Tasks finished per second.
    pub finished: f64,
    /// Values gathered per second.
    pub gathered: f64,
}

/// Task round-trip latency over an interval (estimated from histogram buckets).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct LatencyPoint {
    /// The end of the interval.
    pub at_ms: f64,
    /// Round trips in the interval.
    pub count: u64,
    /// Their mean, if there were any.
    pub mean_ms: Option<f64>,
    /// Their median.
    pub p50_ms: Option<f64>,
    /// Their 99th percentile.
    pub p99_ms: Option<f64>,
}

/// One recent error.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ErrorSnapshot {
    /// When it was seen.
    pub at_ms: f64,
    /// The worker's index, if a worker was involved.
    pub worker: Option<usize>,
    /// What went wrong: `task failed`, `worker lost`, ...
    pub what: String,
    /// The task's function, for a task.
    pub function: Option<String>,
    /// The message (a failed task's error, as the worker reported it).
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::proto::Task;

    /// Discovery's drain and a redial that finds the worker retired both report the departure
    /// (in either order, found by CI): the worker leaves once.
    #[test]
    fn a_worker_leaves_once() {
        let metrics = Metrics::default();
        let worker = WorkerId::new(1, "127.0.0.1:9".parse().unwrap());
        metrics.on_worker_draining(worker);
        metrics.on_worker_left(worker, "its connection had ended".to_owned());
        // A redial under way when it was retired connects, and is closed at once.
        metrics.on_worker_up(worker, 1);
        metrics.on_worker_left(
            worker,
            "retired while it was being dialled again".to_owned(),
        );
        let membership = metrics.snapshot().membership;
        assert_eq!(membership.left, 1, "{membership:?}");
        let lefts = membership
            .events
            .iter()
            .filter(|event| event.change == MemberChange::Left)
            .count();
        assert_eq!(lefts, 1, "{membership:?}");
    }

    /// Finishes `count` tasks of function `f` on `worker`.
    fn finish_tasks(metrics: &Metrics, worker: WorkerId, count: u64) {
        for n in 0..count {
            let task = Task {
                kind: TaskKind::Map,
                function: "f".to_owned(),
                params: bytes::Bytes::new(),
                inputs: vec![Key(n * 2)],
                outputs: vec![Key(n * 2 + 1)],
                reply_with_value: false,
            };
            let in_flight = metrics.on_request(worker, &Request::Submit(task));
            metrics.on_response(worker, in_flight, None);
        }
    }

    /// A snapshot of a large fleet carries a bounded share of each worker's recent tasks; a
    /// small one carries all it keeps.
    #[test]
    fn a_snapshot_of_a_large_fleet_keeps_each_workers_recent_tasks_bounded() {
        let addr = "127.0.0.1:9".parse().unwrap();
        let small = Metrics::default();
        for index in 0..4 {
            finish_tasks(&small, WorkerId::new(index, addr), 600);
        }
        let tasks = small.snapshot().tasks;
        assert_eq!(tasks.len(), 4 * TASKS_KEPT);

        let large = Metrics::default();
        for index in 0..1000 {
            finish_tasks(&large, WorkerId::new(index, addr), 20);
        }
        let tasks = large.snapshot().tasks;
        assert_eq!(tasks.len(), 1000 * TASKS_SHOWN_MIN);
        // Each worker's share is its most recent tasks (sequence numbers 4..20).
        assert!(
            tasks
                .iter()
                .all(|task| task.seq >= 20 - TASKS_SHOWN_MIN as u64)
        );
    }
}
