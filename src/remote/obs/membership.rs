//! Membership of a fleet found by name ([`Client::discover`](crate::Client::discover)): what the
//! name resolved to, and workers joining, draining and leaving as its records change.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::remote::proto::WorkerId;
use crate::util::lock;

/// How many membership changes are kept for the dashboard.
const EVENTS_KEPT: usize = 200;

/// The counts and recent changes of a discovered fleet (all zero for a client that was not
/// made by [`Client::discover`](crate::Client::discover)).
#[derive(Debug, Default)]
pub(crate) struct Membership {
    name: Mutex<Option<String>>,
    resolutions: AtomicU64,
    resolve_failures: AtomicU64,
    addresses: AtomicU64,
    joined: AtomicU64,
    left: AtomicU64,
    unreachable: AtomicU64,
    events: Mutex<VecDeque<MembershipEvent>>,
}

/// What happened to a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MemberChange {
    /// A new address answered and was welcomed.
    Joined,
    /// A new address could not be connected to (it is tried again at the next resolution).
    Unreachable,
    /// Its address left the name: it takes no new work, its work in flight goes on.
    Draining,
    /// It was closed after draining (its unfinished items run again elsewhere).
    Left,
    /// The name could not be resolved (the members stay as they were).
    ResolveFailed,
}

/// One membership change, for the dashboard ([`MembershipSnapshot::events`]).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct MembershipEvent {
    /// When, in milliseconds since the client started.
    pub at_ms: f64,
    /// The worker's index, once it has one.
    pub worker: Option<usize>,
    /// The address concerned (empty for a failed resolution).
    pub addr: String,
    /// What happened.
    pub change: MemberChange,
    /// More about it (why a join or a resolution failed).
    pub detail: String,
}

/// The membership of a discovered fleet, as of one moment.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct MembershipSnapshot {
    /// The name the workers are discovered by, if the client was made by `discover`.
    pub name: Option<String>,
    /// How many addresses it had at the last resolution.
    pub addresses: u64,
    /// Resolutions done.
    pub resolutions: u64,
    /// Resolutions that failed.
    pub resolve_failures: u64,
    /// Workers that joined, the first ones included.
    pub joined: u64,
    /// Workers that left after draining.
    pub left: u64,
    /// Joins that failed.
    pub unreachable: u64,
    /// The most recent changes, newest first.
    pub events: Vec<MembershipEvent>,
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Membership {
    pub(crate) fn set_name(&self, name: &str) {
        *lock(&self.name) = Some(name.to_owned());
    }

    pub(crate) fn resolved(&self, addresses: usize) {
        self.resolutions.fetch_add(1, Ordering::Relaxed);
        self.addresses.store(addresses as u64, Ordering::Relaxed);
    }

    pub(crate) fn record(
        &self,
        at: Duration,
        worker: Option<WorkerId>,
        addr: Option<SocketAddr>,
        change: MemberChange,
        detail: String,
    ) {
        let counter = match change {
            MemberChange::Joined => Some(&self.joined),
            MemberChange::Left => Some(&self.left),
            MemberChange::Unreachable => Some(&self.unreachable),
            MemberChange::ResolveFailed => Some(&self.resolve_failures),
            MemberChange::Draining => None,
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let mut events = lock(&self.events);
        if events.len() == EVENTS_KEPT {
            events.pop_front();
        }
        events.push_back(MembershipEvent {
            at_ms: at.as_secs_f64() * 1e3,
            worker: worker.map(|w| w.index()),
            addr: addr.map(|a| a.to_string()).unwrap_or_default(),
            change,
            detail,
        });
    }

    pub(crate) fn snapshot(&self) -> MembershipSnapshot {
        MembershipSnapshot {
            name: lock(&self.name).clone(),
            addresses: load(&self.addresses),
            resolutions: load(&self.resolutions),
            resolve_failures: load(&self.resolve_failures),
            joined: load(&self.joined),
            left: load(&self.left),
            unreachable: load(&self.unreachable),
            events: lock(&self.events).iter().rev().cloned().collect(),
        }
    }

    /// The membership series of `/metrics`.
    pub(crate) fn prometheus(&self, out: &mut String) {
        let series: [(&str, &str, &str, u64); 6] = [
            (
                "rivulet_discovery_addresses",
                "gauge",
                "Addresses the discovered name had at its last resolution.",
                load(&self.addresses),
            ),
            (
                "rivulet_discovery_resolutions_total",
                "counter",
                "Resolutions of the discovered name.",
                load(&self.resolutions),
            ),
            (
                "rivulet_discovery_resolve_failures_total",
                "counter",
                "Resolutions of the discovered name that failed (members kept as they were).",
                load(&self.resolve_failures),
            ),
            (
                "rivulet_workers_joined_total",
                "counter",
                "Workers that joined from the discovered name (the first ones included).",
                load(&self.joined),
            ),
            (
                "rivulet_workers_left_total",
                "counter",
                "Workers drained and closed after the name lost their address.",
                load(&self.left),
            ),
            (
                "rivulet_workers_unreachable_total",
                "counter",
                "Joins that failed (tried again at the next resolution).",
                load(&self.unreachable),
            ),
        ];
        for (name, kind, help, value) in series {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
    }
}
