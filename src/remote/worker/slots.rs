//! The worker's task slots: long-lived threads that take tasks from each connection in turn.
//!
//! A task is handed to a slot thread through a queue and its outcome comes back through its
//! connection's channel: no thread is spawned per task, and no thread-pool round trip is made,
//! so a function that takes nanoseconds costs about a queue hand-off. Each connection queues
//! its tasks in a lane of its own, and the slots take one task from each lane in turn: a client
//! with a thousand tasks queued does not make another wait for them all, and a connection may
//! queue everything it has, so a slot thread that finishes one task finds the next one waiting
//! and runs it at once. Only a thread with nothing to do sleeps, and only then does queuing a
//! task wake one. Remote functions may block: they run here, never on the worker's runtime.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::lock;
use crate::remote::obs::WorkerStats;
use crate::remote::proto::{Failure, FailureKind, TaskId, TaskKind, TaskOutput};
use crate::remote::registry::{INLINE_BUDGET, Registration};

/// A task's outcome, as its connection reports it to its session.
pub(super) type Finished = (TaskId, Result<TaskOutput, Failure>);

/// One task for a slot.
pub(super) struct Job {
    pub(super) task: TaskId,
    pub(super) kind: TaskKind,
    pub(super) registration: &'static Registration,
    pub(super) params: Bytes,
    pub(super) input: Bytes,
    /// Where the outcome goes; a closed channel means the connection is gone, and the task is
    /// not run at all.
    pub(super) done: mpsc::UnboundedSender<Finished>,
}

/// The worker's slot threads and their queue. Dropping it lets the threads end once they have
/// answered the tasks queued (without waiting for them).
pub(super) struct SlotPool {
    queue: Arc<Queue>,
    /// Functions declared inline whose call took longer than [`INLINE_BUDGET`] here: they run
    /// on the slots from then on.
    over_budget: Mutex<Vec<&'static str>>,
}

struct Queue {
    state: Mutex<State<Job>>,
    ready: Condvar,
}

/// The queue's state; generic in what it queues only so that its order can be tested alone.
struct State<J> {
    /// Each connection's queued tasks, by lane.
    lanes: HashMap<u64, VecDeque<J>>,
    /// The lanes with tasks queued, in the order the slots take from them (each once per
    /// round).
    turns: VecDeque<u64>,
    next_lane: u64,
    /// Threads waiting for a task: only then does queuing one wake a thread.
    idle: usize,
    /// Wake-ups sent to waiting threads that have not woken yet: a thread woken for a task
    /// is not woken again (a futex call each) by the tasks queued before it runs.
    waking: usize,
    closed: bool,
}

impl<J> State<J> {
    fn new() -> Self {
        State {
            lanes: HashMap::new(),
            turns: VecDeque::new(),
            next_lane: 0,
            idle: 0,
            waking: 0,
            closed: false,
        }
    }

    fn open_lane(&mut self) -> u64 {
        let id = self.next_lane;
        self.next_lane += 1;
        self.lanes.insert(id, VecDeque::new());
        id
    }

    /// Queues `jobs` in `lane`; how many were queued (none if the lane is closed).
    fn push(&mut self, lane: u64, jobs: impl IntoIterator<Item = J>) -> usize {
        let Some(queued) = self.lanes.get_mut(&lane) else {
            return 0;
        };
        let was_empty = queued.is_empty();
        let before = queued.len();
        queued.extend(jobs);
        let added = queued.len() - before;
        if was_empty && added > 0 {
            self.turns.push_back(lane);
        }
        added
    }

    fn pop(&mut self) -> Option<J> {
        while let Some(lane) = self.turns.pop_front() {
            // A lane closed meanwhile has no queue: its turn is skipped.
            let Some(jobs) = self.lanes.get_mut(&lane) else {
                continue;
            };
            let Some(job) = jobs.pop_front() else {
                continue;
            };
            if !jobs.is_empty() {
                self.turns.push_back(lane);
            }
            return Some(job);
        }
        None
    }
}

impl Queue {
    fn state(&self) -> MutexGuard<'_, State<Job>> {
        lock(&self.state)
    }

    /// The next task, waiting for one; `None` once the pool is closed and empty.
    fn next(&self) -> Option<Job> {
        let mut state = self.state();
        loop {
            if let Some(job) = state.pop() {
                return Some(job);
            }
            if state.closed {
                return None;
            }
            state.idle += 1;
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state.idle -= 1;
            // Woken on purpose, or spuriously (then no wake-up was counted for it).
            state.waking = state.waking.saturating_sub(1);
        }
    }
}

impl SlotPool {
    /// Starts `slots` threads (at least one).
    pub(super) fn start(slots: usize) -> std::io::Result<SlotPool> {
        let queue = Arc::new(Queue {
            state: Mutex::new(State::new()),
            ready: Condvar::new(),
        });
        for slot in 0..slots.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("rivulet-slot-{slot}"))
                .spawn(move || serve_slot(&queue))?;
        }
        Ok(SlotPool {
            queue,
            over_budget: Mutex::new(Vec::new()),
        })
    }

    /// Whether `registration`'s tasks run on the runtime thread rather than on a slot: it is
    /// declared [`inline`](crate::RemoteFn::INLINE) and no call of it here has taken longer
    /// than [`INLINE_BUDGET`].
    pub(super) fn runs_inline(&self, registration: &Registration) -> bool {
        registration.is_inline() && !self.over_budget().contains(&registration.name())
    }

    /// Runs an inline function's task here and now, and sends the function to the slots from
    /// now on if the call took longer than [`INLINE_BUDGET`] (said once, as a warning).
    pub(super) fn run_inline(
        &self,
        registration: &'static Registration,
        kind: TaskKind,
        params: &[u8],
        input: &[u8],
    ) -> Result<TaskOutput, Failure> {
        let started = Instant::now();
        let outcome = run(registration, kind, params, input);
        let took = started.elapsed();
        if took > INLINE_BUDGET {
            let mut over = self.over_budget();
            if !over.contains(&registration.name()) {
                over.push(registration.name());
                tracing::warn!(
                    function = registration.name(),
                    ?took,
                    budget = ?INLINE_BUDGET,
                    "a function declared inline took longer than its budget: its tasks run on the slots from now on"
                );
            }
        }
        outcome
    }

    fn over_budget(&self) -> MutexGuard<'_, Vec<&'static str>> {
        lock(&self.over_budget)
    }

    /// A lane for one connection's tasks; its queued tasks go when it is dropped.
    pub(super) fn lane(&self) -> Lane {
        Lane {
            id: self.queue.state().open_lane(),
            queue: Arc::clone(&self.queue),
        }
    }
}

impl Drop for SlotPool {
    fn drop(&mut self) {
        self.queue.state().closed = true;
        self.queue.ready.notify_all();
    }
}

/// One connection's place in the slots' queue.
pub(super) struct Lane {
    id: u64,
    queue: Arc<Queue>,
}

impl Lane {
    /// Queues `jobs`, in order, for the slots (one lock and at most one wake-up per idle
    /// thread, however many there are).
    pub(super) fn submit(&self, jobs: impl IntoIterator<Item = Job>) {
        let mut state = self.queue.state();
        let added = state.push(self.id, jobs);
        let wake = added.min(state.idle - state.waking);
        state.waking += wake;
        drop(state);
        for _ in 0..wake {
            self.queue.ready.notify_one();
        }
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        // The tasks still queued are dropped after the lock is let go (their channels and
        // bytes are freed outside it).
        let jobs = self.queue.state().lanes.remove(&self.id);
        drop(jobs);
    }
}

/// One slot thread: runs tasks until the pool is closed and its queue is empty.
fn serve_slot(queue: &Queue) {
    while let Some(job) = queue.next() {
        if job.done.is_closed() {
            continue;
        }
        let Job {
            task,
            kind,
            registration,
            params,
            input,
            done,
        } = job;
        let outcome = run(registration, kind, &params, &input);
        // A closed channel: the connection went while the task ran; nobody wants the outcome.
        let _ = done.send((task, outcome));
    }
}

/// Runs one task's function, counted in the worker's statistics: on a slot thread, or on the
/// runtime thread for a function declared [`inline`](crate::RemoteFn::INLINE).
fn run(
    registration: &'static Registration,
    kind: TaskKind,
    params: &[u8],
    input: &[u8],
) -> Result<TaskOutput, Failure> {
    let outcome = {
        let _span = tracing::debug_span!("task", function = registration.name(), ?kind).entered();
        let _busy = WorkerStats::global().busy();
        registration.run_task(kind, params, input)
    };
    WorkerStats::global().task_ran(registration.name(), outcome.is_ok());
    outcome
}

/// The failure of a task whose function this worker does not have (a session refuses such a
/// task, so only a registry changed under it gives this).
pub(super) fn unknown_function(name: &str) -> Failure {
    Failure::new(FailureKind::Decode, format!("unknown function `{name}`"))
}

#[cfg(test)]
mod tests {
    use super::State;

    fn drain(state: &mut State<&'static str>) -> Vec<&'static str> {
        std::iter::from_fn(|| state.pop()).collect()
    }

    #[test]
    fn lanes_take_turns_and_keep_their_order() {
        let mut state = State::new();
        let (flood, other) = (state.open_lane(), state.open_lane());
        state.push(flood, ["f1", "f2", "f3", "f4"]);
        assert_eq!(state.pop(), Some("f1"));
        // Another connection's tasks queued behind a flood run after one of the flood's.
        state.push(other, ["o1", "o2"]);
        assert_eq!(drain(&mut state), ["f2", "o1", "f3", "o2", "f4"]);
        assert_eq!(state.pop(), None);
    }

    #[test]
    fn a_closed_lane_is_skipped_and_refuses_more() {
        let mut state = State::new();
        let (gone, kept) = (state.open_lane(), state.open_lane());
        state.push(gone, ["g1", "g2"]);
        state.push(kept, ["k1"]);
        state.lanes.remove(&gone);
        assert_eq!(state.push(gone, ["g3"]), 0);
        assert_eq!(drain(&mut state), ["k1"]);
        // A lane emptied and filled again gets a turn again.
        state.push(kept, ["k2"]);
        assert_eq!(drain(&mut state), ["k2"]);
    }
}
