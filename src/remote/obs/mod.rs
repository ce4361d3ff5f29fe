//! Observability: what the client records about its workers and tasks ([`Metrics`]), what a
//! worker process counts about itself ([`WorkerStats`]), their Prometheus text, and the HTTP
//! server behind the live [`Dashboard`].
//!
//! The client and the worker use this layer; it uses neither (only the ids and messages of
//! [`proto`](crate::remote::proto)).

mod dashboard;
mod membership;
mod metrics;
mod worker_stats;

pub(crate) use dashboard::ServeAddr;
pub use dashboard::{Dashboard, ServeError};
pub use membership::{MemberChange, MembershipEvent, MembershipSnapshot};
pub use metrics::*;
pub use worker_stats::{MetricsServer, WorkerStats, serve_metrics};
