//! Distributed streams: workers, the client, the wire protocol and remote functions.

pub mod auth;
pub mod client;
pub mod frame;
mod future;
mod link;
pub mod metrics;
mod pipe;
pub mod protocol;
pub mod registry;
mod stream;
mod task_error;
pub mod tls;
pub mod wire;
pub mod worker;

pub use client::Client;
pub use future::RemoteFuture;
pub use link::WorkerId;
pub use stream::{Gather, Portable, RemoteFutures, RemoteStream};
pub use task_error::{TaskError, TaskErrorKind};
pub mod dashboard;
pub mod worker_stats;
// @remote-modules (keep this line: modules are added above it)
