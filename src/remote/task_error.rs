//! `TaskError`: why one item of a remote stream has no value.

use std::fmt;
use std::sync::Arc;

use crate::remote::WorkerId;

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
    /// The remote function panicked or returned `Err` (or an input of it had failed).
    Failed,
    /// The worker holding the value (or running its task) was lost.
    WorkerLost,
    /// The value could not be encoded here or decoded from the worker's bytes.
    Codec,
    /// The worker rejected the request (a bug, or a worker built from other code).
    Rejected,
    /// The client has no live worker to send the item to.
    NoWorkers,
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
            TaskErrorKind::Failed => write!(f, "remote task failed: {}", self.message),
            TaskErrorKind::WorkerLost => write!(f, "worker lost: {}", self.message),
            TaskErrorKind::Codec => {
                write!(f, "cannot encode or decode the value: {}", self.message)
            }
            TaskErrorKind::Rejected => write!(f, "worker rejected the request: {}", self.message),
            TaskErrorKind::NoWorkers => write!(f, "no worker available: {}", self.message),
        }
    }
}

impl std::error::Error for TaskError {}
