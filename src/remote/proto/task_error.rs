//! `TaskError`: why one item of a remote stream has no value.

use std::fmt;
use std::sync::Arc;

use super::ids::WorkerId;
use super::message::{Failure, FailureKind};

/// Why one item of a remote stream has no value: its function panicked or returned `Err`, its
/// worker was lost, or its value could not be encoded or decoded.
///
/// It is cheap to clone, and its `Display` carries the message from the worker (a panic's text,
/// the function's `Err`).
///
/// ```
/// # use rivulet::TaskError;
/// fn report(error: &TaskError) -> String { format!("item failed: {error}") }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    kind: TaskErrorKind,
    message: Arc<str>,
}

/// The kinds of [`TaskError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskErrorKind {
    /// The remote function panicked (the message is the panic's).
    Panicked,
    /// The remote function returned `Err` (the message is its `Display`).
    Failed,
    /// A value would be larger than the limit of the client or the worker (the message names
    /// the limit).
    ValueTooLarge,
    /// The worker holding the value (or running its task) was lost.
    WorkerLost,
    /// A value could not be encoded or decoded (here, or on the worker for the function's
    /// input and output).
    Codec,
    /// The worker rejected the request (a bug, or a worker built from other code).
    Rejected,
    /// The client has no live worker to send the item to.
    NoWorkers,
    /// A worker refused the item: the client is over its quota there (values held, tasks
    /// queued); the message names the quota.
    Overloaded,
}

impl TaskError {
    pub(crate) fn new(kind: TaskErrorKind, message: impl Into<Arc<str>>) -> Self {
        TaskError {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn worker_lost(worker: WorkerId) -> Self {
        Self::new(
            TaskErrorKind::WorkerLost,
            format!("lost connection to {worker}"),
        )
    }

    /// The error an item gets from a worker's [`Failure`]: its kind survives the wire.
    pub(crate) fn from_failure(failure: Failure, worker: WorkerId) -> Self {
        let kind = match failure.kind {
            FailureKind::Panicked => TaskErrorKind::Panicked,
            FailureKind::Returned => TaskErrorKind::Failed,
            FailureKind::Decode | FailureKind::Encode => TaskErrorKind::Codec,
            FailureKind::ValueTooLarge => TaskErrorKind::ValueTooLarge,
            FailureKind::Overloaded => TaskErrorKind::Overloaded,
            // A task stopped by a worker going away is run elsewhere, like a lost worker's.
            // A copy that could not be pulled from its holder is had another way (through the
            // client, or made again), like a lost worker's value.
            FailureKind::Aborted | FailureKind::Unavailable => {
                return Self::new(
                    TaskErrorKind::WorkerLost,
                    format!("{worker} could not finish: {}", failure.message),
                );
            }
        };
        Self::new(kind, failure.message)
    }

    pub(crate) fn codec(error: &postcard::Error) -> Self {
        Self::new(TaskErrorKind::Codec, error.to_string())
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TaskErrorKind {
        self.kind
    }

    /// Whether the worker holding the item was lost (as opposed to the task failing).
    pub fn is_worker_lost(&self) -> bool {
        self.kind == TaskErrorKind::WorkerLost
    }

    /// The message, as the worker (or the client) gave it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TaskErrorKind::Panicked => write!(f, "remote task panicked: {}", self.message),
            TaskErrorKind::Failed => write!(f, "remote task failed: {}", self.message),
            TaskErrorKind::ValueTooLarge => write!(f, "value too large: {}", self.message),
            TaskErrorKind::WorkerLost => write!(f, "worker lost: {}", self.message),
            TaskErrorKind::Codec => {
                write!(f, "cannot encode or decode the value: {}", self.message)
            }
            TaskErrorKind::Rejected => write!(f, "worker rejected the request: {}", self.message),
            TaskErrorKind::NoWorkers => write!(f, "no worker available: {}", self.message),
            TaskErrorKind::Overloaded => write!(f, "worker over quota: {}", self.message),
        }
    }
}

impl std::error::Error for TaskError {}
