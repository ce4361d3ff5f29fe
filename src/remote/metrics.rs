//! What a client records about its workers and tasks, for the dashboard and `/metrics`.
//!
//! The client's links call the `on_*` hooks; everything else reads [`Metrics::snapshot`].

use std::time::Instant;

use crate::remote::link::WorkerId;
use crate::remote::protocol::{Key, Request, Response};

/// The client's record of its workers and tasks (one per client, shared by its links).
#[derive(Debug, Default)]
pub struct Metrics {
    _private: (),
}

/// What a link remembers about a request in flight, to pair it with its response.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    pub(crate) sent: Instant,
}

impl Metrics {
    /// A request is about to be sent to `worker`.
    pub(crate) fn on_request(&self, _worker: WorkerId, _request: &Request) -> InFlight {
        InFlight { sent: Instant::now() }
    }

    /// The response to a request arrived (or `None`: the worker was lost first).
    pub(crate) fn on_response(&self, _worker: WorkerId, _request: InFlight, _response: Option<&Response>) {}

    /// The client released a value on `worker`.
    pub(crate) fn on_release(&self, _worker: WorkerId, _key: Key) {}

    /// A worker was welcomed, with `slots` task slots.
    pub(crate) fn on_worker_up(&self, _worker: WorkerId, _slots: u32) {}

    /// A worker's connection was lost (or closed).
    pub(crate) fn on_worker_lost(&self, _worker: WorkerId) {}
}
