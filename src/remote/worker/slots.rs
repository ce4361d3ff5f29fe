//! The worker's task slots: long-lived threads that take tasks from one queue.
//!
//! A task is handed to a slot thread through a queue and its outcome comes back through its
//! connection's channel: no thread is spawned per task, and no thread-pool round trip is made,
//! so a function that takes nanoseconds costs about a queue hand-off. A slot thread that
//! finds more work queued runs it at once, and one with nothing to do sleeps until a task
//! comes; only then does queuing a task wake a thread. Remote functions may block: they run
//! here, never on the worker's runtime.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::remote::obs::WorkerStats;
use crate::remote::proto::{Failure, FailureKind, TaskId, TaskKind, TaskOutput};
use crate::remote::registry::Registration;

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
}

struct Queue {
    state: Mutex<State>,
    ready: Condvar,
}

struct State {
    jobs: VecDeque<Job>,
    /// Threads waiting for a task: only then does queuing one wake a thread.
    idle: usize,
    closed: bool,
}

impl Queue {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every change under the lock is a push, a pop or a flag: a panic cannot leave it
        // half-done (and functions run outside it).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next task, waiting for one; `None` once the pool is closed and empty.
    fn next(&self) -> Option<Job> {
        let mut state = self.state();
        loop {
            if let Some(job) = state.jobs.pop_front() {
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
        }
    }
}

impl SlotPool {
    /// Starts `slots` threads (at least one).
    pub(super) fn start(slots: usize) -> std::io::Result<SlotPool> {
        let queue = Arc::new(Queue {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                idle: 0,
                closed: false,
            }),
            ready: Condvar::new(),
        });
        for slot in 0..slots.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("rivulet-slot-{slot}"))
                .spawn(move || serve_slot(&queue))?;
        }
        Ok(SlotPool { queue })
    }

    /// Queues a task for the next free slot.
    pub(super) fn submit(&self, job: Job) {
        let mut state = self.queue.state();
        state.jobs.push_back(job);
        let wake = state.idle > 0;
        drop(state);
        if wake {
            self.queue.ready.notify_one();
        }
    }
}

impl Drop for SlotPool {
    fn drop(&mut self) {
        self.queue.state().closed = true;
        self.queue.ready.notify_all();
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
        let outcome = {
            let _span =
                tracing::debug_span!("task", function = registration.name(), ?kind).entered();
            let _busy = WorkerStats::global().busy();
            registration.run_task(kind, &params, &input)
        };
        WorkerStats::global().task_ran(registration.name(), outcome.is_ok());
        // A closed channel: the connection went while the task ran; nobody wants the outcome.
        let _ = done.send((task, outcome));
    }
}

/// The failure of a task whose function this worker does not have (a session refuses such a
/// task, so only a registry changed under it gives this).
pub(super) fn unknown_function(name: &str) -> Failure {
    Failure::new(FailureKind::Decode, format!("unknown function `{name}`"))
}
