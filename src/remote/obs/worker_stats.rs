//! What a worker process counts about itself (tasks run and failed, busy slots, values held),
//! served as Prometheus text by [`serve_metrics`] (`examples/worker.rs --metrics ADDR`).
//!
//! The counts are the process's: a standalone worker is one process, so they are its own; in a
//! process that runs several in-process workers (a client's [`Client::local`](crate::Client::local))
//! they add up. The client's view of its workers is [`Metrics`](crate::remote::obs::Metrics).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::dashboard::{self, Reply, Routes, ServeAddr, ServeError, Server};
use super::metrics::escape_label;

/// The worker counters of this process ([`WorkerStats::global`]).
///
/// ```
/// use rivulet::remote::obs::WorkerStats;
///
/// let text = WorkerStats::global().prometheus();
/// assert!(text.contains("# TYPE rivulet_worker_busy_slots gauge"));
/// ```
#[derive(Debug)]
pub struct WorkerStats {
    slots: AtomicU64,
    busy: AtomicU64,
    connections: AtomicU64,
    values_held: AtomicU64,
    /// Workers of this process draining (stopping): `/healthz` is not ready while one is.
    draining: AtomicU64,
    /// Tasks run and failed, by function.
    functions: Mutex<BTreeMap<&'static str, TaskCounts>>,
    /// Bytes of values given to other workers, and taken from them.
    peer_bytes_served: AtomicU64,
    peer_bytes_pulled: AtomicU64,
}

/// A per-function counter of `/metrics`: name, help, and how to read it.
type TaskSeries = (&'static str, &'static str, fn(&TaskCounts) -> u64);

#[derive(Debug, Default, Clone, Copy)]
struct TaskCounts {
    run: u64,
    failed: u64,
}

static STATS: WorkerStats = WorkerStats {
    slots: AtomicU64::new(0),
    busy: AtomicU64::new(0),
    connections: AtomicU64::new(0),
    values_held: AtomicU64::new(0),
    draining: AtomicU64::new(0),
    functions: Mutex::new(BTreeMap::new()),
    peer_bytes_served: AtomicU64::new(0),
    peer_bytes_pulled: AtomicU64::new(0),
};

/// Counts something for as long as it lives (a busy slot, a connection, a worker's slots).
#[derive(Debug)]
#[must_use = "the count drops as soon as the guard does"]
pub(crate) struct Held {
    counter: &'static AtomicU64,
    amount: u64,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.counter.fetch_sub(self.amount, Ordering::Relaxed);
    }
}

fn held(counter: &'static AtomicU64, amount: u64) -> Held {
    counter.fetch_add(amount, Ordering::Relaxed);
    Held { counter, amount }
}

impl WorkerStats {
    /// This process's counters.
    pub fn global() -> &'static WorkerStats {
        &STATS
    }

    fn functions(&self) -> MutexGuard<'_, BTreeMap<&'static str, TaskCounts>> {
        // Updates under the lock are two additions; a panic cannot leave them half-done.
        self.functions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A worker with `slots` task slots serves until the guard is dropped.
    pub(crate) fn serving(&'static self, slots: usize) -> Held {
        held(&self.slots, slots as u64)
    }

    /// A task occupies a slot until the guard is dropped.
    pub(crate) fn busy(&'static self) -> Held {
        held(&self.busy, 1)
    }

    /// A client is connected until the guard is dropped.
    pub(crate) fn connected(&'static self) -> Held {
        held(&self.connections, 1)
    }

    /// A worker drains (takes no new clients, finishes its tasks) until the guard is dropped.
    pub(crate) fn draining(&'static self) -> Held {
        held(&self.draining, 1)
    }

    /// Whether a worker serves in this process and none is draining: what `/healthz` answers.
    ///
    /// ```
    /// // No worker serves in this doctest's process.
    /// assert!(!rivulet::remote::obs::WorkerStats::global().is_ready());
    /// ```
    pub fn is_ready(&self) -> bool {
        self.slots() > 0 && self.draining.load(Ordering::Relaxed) == 0
    }

    /// A task of `function` ran; `ok` unless it failed.
    pub(crate) fn task_ran(&self, function: &'static str, ok: bool) {
        let mut functions = self.functions();
        let counts = functions.entry(function).or_default();
        counts.run += 1;
        counts.failed += u64::from(!ok);
    }

    /// `count` values were stored under new keys.
    pub(crate) fn values_stored(&self, count: usize) {
        self.values_held.fetch_add(count as u64, Ordering::Relaxed);
    }

    /// `count` values were freed (released, or their connection ended).
    pub(crate) fn values_released(&self, count: usize) {
        let count = count as u64;
        let _ = self
            .values_held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(count))
            });
    }

    /// A value of `bytes` bytes was given to another worker.
    pub(crate) fn served_peer(&self, bytes: usize) {
        self.peer_bytes_served
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A value of `bytes` bytes was taken from another worker.
    pub(crate) fn pulled_from_peer(&self, bytes: usize) {
        self.peer_bytes_pulled
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Bytes of values this process's workers gave to other workers (worker to worker, not
    /// through the client).
    pub fn peer_bytes_served(&self) -> u64 {
        self.peer_bytes_served.load(Ordering::Relaxed)
    }

    /// Bytes of values this process's workers took from other workers.
    pub fn peer_bytes_pulled(&self) -> u64 {
        self.peer_bytes_pulled.load(Ordering::Relaxed)
    }

    /// Task slots of the workers serving in this process.
    pub fn slots(&self) -> u64 {
        self.slots.load(Ordering::Relaxed)
    }

    /// Slots running a task now.
    pub fn busy_slots(&self) -> u64 {
        self.busy.load(Ordering::Relaxed)
    }

    /// Clients connected now.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Values kept for clients now.
    pub fn values_held(&self) -> u64 {
        self.values_held.load(Ordering::Relaxed)
    }

    /// Tasks that ran (failed ones included).
    pub fn tasks_run(&self) -> u64 {
        self.functions().values().map(|counts| counts.run).sum()
    }

    /// Tasks whose function failed.
    pub fn tasks_failed(&self) -> u64 {
        self.functions().values().map(|counts| counts.failed).sum()
    }

    /// The counters in Prometheus's text exposition format.
    pub fn prometheus(&self) -> String {
        let mut out = String::with_capacity(1024);
        let gauges = [
            (
                "rivulet_worker_slots",
                "Task slots of the workers serving in this process.",
                self.slots(),
            ),
            (
                "rivulet_worker_busy_slots",
                "Task slots running a task now.",
                self.busy_slots(),
            ),
            (
                "rivulet_worker_connections",
                "Clients connected now.",
                self.connections(),
            ),
            (
                "rivulet_worker_values_held",
                "Values kept for clients now.",
                self.values_held(),
            ),
            (
                "rivulet_worker_ready",
                "1 while a worker serves and none drains (what /healthz says), else 0.",
                u64::from(self.is_ready()),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP rivulet_worker_peer_bytes_total Bytes of values moved between workers directly (not through a client), by direction.\n\
             # TYPE rivulet_worker_peer_bytes_total counter\n\
             rivulet_worker_peer_bytes_total{{direction=\"served\"}} {}\n\
             rivulet_worker_peer_bytes_total{{direction=\"pulled\"}} {}",
            self.peer_bytes_served(),
            self.peer_bytes_pulled()
        );
        let functions = self.functions().clone();
        let counters: [TaskSeries; 2] = [
            (
                "rivulet_worker_tasks_run_total",
                "Tasks run (failed ones included), by function.",
                |c| c.run,
            ),
            (
                "rivulet_worker_tasks_failed_total",
                "Tasks whose function failed, by function.",
                |c| c.failed,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (function, counts) in &functions {
                let _ = writeln!(
                    out,
                    "{name}{{function=\"{}\"}} {}",
                    escape_label(function),
                    value(counts)
                );
            }
        }
        out
    }
}

/// A running `/metrics` server of this process's [`WorkerStats`]; it stops when dropped.
#[derive(Debug)]
pub struct MetricsServer {
    server: Server,
}

impl MetricsServer {
    /// The address it listens on (with the port chosen, if port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }
}

/// Serves this process's [`WorkerStats`] at `/metrics` on `addr` (read-only, `GET` only)
/// until the returned server is dropped, and its health at `/healthz`: `200 ready` while a
/// worker serves in this process ([`WorkerStats::is_ready`]), `503 starting` before, and
/// `503 draining` once it stops (a readiness probe takes it out of service then).
///
/// ```
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = rivulet::remote::obs::serve_metrics("127.0.0.1:0").await?;
/// println!("metrics at http://{}/metrics", server.local_addr());
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// If `addr` cannot be resolved or bound.
pub async fn serve_metrics(
    addr: impl tokio::net::ToSocketAddrs,
) -> Result<MetricsServer, ServeError> {
    let routes: Routes = Arc::new(|path| match path {
        "/metrics" => Reply::Page(
            "text/plain; version=0.0.4; charset=utf-8",
            Bytes::from(WorkerStats::global().prometheus()),
        ),
        "/healthz" => {
            let stats = WorkerStats::global();
            if stats.is_ready() {
                Reply::Page("text/plain; charset=utf-8", Bytes::from_static(b"ready\n"))
            } else if stats.slots() > 0 {
                Reply::Unavailable("draining\n")
            } else {
                Reply::Unavailable("starting\n")
            }
        }
        "/" => Reply::Redirect("/metrics"),
        _ => Reply::NotFound,
    });
    let server = dashboard::start(
        &ServeAddr::lookup(addr).await,
        routes,
        CancellationToken::new(),
    )?;
    Ok(MetricsServer { server })
}
