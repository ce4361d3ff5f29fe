//! The task that runs an upstream ahead of its consumer, shared by `buffer` and `latest`.

use std::future::Future as _;
use std::task::{Context, Poll};

use tokio::task::JoinHandle;

/// An upstream that is started in a task of its own at the first poll; the task is aborted
/// when this is dropped.
pub(crate) enum Forwarder<S, R> {
    /// Not polled yet.
    Waiting(Option<S>),
    /// Running: how the consumer receives, and the task.
    Running(R, JoinHandle<()>),
    /// The upstream ended and the consumer saw it.
    Done,
}

// The upstream is never pinned here: it moves into the task before its first poll.
impl<S, R> Unpin for Forwarder<S, R> {}

impl<S, R> Forwarder<S, R> {
    pub(crate) fn new(upstream: S) -> Self {
        Forwarder::Waiting(Some(upstream))
    }

    /// The receiving end and the task, spawning the task with `spawn` on the first call;
    /// `None` once the stream is done.
    pub(crate) fn start(
        &mut self,
        spawn: impl FnOnce(S) -> (R, JoinHandle<()>),
    ) -> Option<(&mut R, &mut JoinHandle<()>)> {
        if let Forwarder::Waiting(upstream) = self {
            let upstream = upstream.take()?;
            let (receiver, task) = spawn(upstream);
            *self = Forwarder::Running(receiver, task);
        }
        match self {
            Forwarder::Running(receiver, task) => Some((receiver, task)),
            _ => None,
        }
    }
}

impl<S, R> Drop for Forwarder<S, R> {
    fn drop(&mut self) {
        if let Forwarder::Running(_, task) = self {
            task.abort();
        }
    }
}

/// The end of a forwarded stream: `None` once the task has finished, or the upstream's panic
/// raised again here, so that the sink driving the pipeline reports it.
pub(crate) fn finish<T>(task: &mut JoinHandle<()>, cx: &mut Context<'_>) -> Poll<Option<T>> {
    match std::pin::Pin::new(task).poll(cx) {
        Poll::Pending => Poll::Pending,
        Poll::Ready(Ok(())) => Poll::Ready(None),
        Poll::Ready(Err(error)) => match error.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(_) => Poll::Ready(None),
        },
    }
}
