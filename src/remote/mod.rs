//! Distributed streams: workers, the client, the wire protocol and remote functions.
//!
//! The folder is in layers that import one way:
//!
//! - [`proto`]: the sans-IO core (ids, messages, framing, and the rules of both sides), with
//!   neither tokio nor quinn;
//! - [`registry`]: the remote functions compiled into this binary;
//! - [`transport`]: TLS, QUIC settings, the secret proof and framed streams;
//! - the client (`Client`, [`RemoteStream`], [`RemoteFuture`]) and the [`worker`], each driving
//!   `proto` over `transport`;
//! - the cluster (`Client::local`, [`ClientBuilder`]), the one part that uses both sides;
//! - [`obs`]: metrics, Prometheus text and the dashboard, used by both sides.

pub mod proto;
pub mod registry;
pub mod transport;

mod client;
mod cluster;
pub mod obs;
pub mod sim;
pub mod worker;

pub use client::{
    Client, ClientAuth, ClientError, ConnectConfig, DEFAULT_DISCOVERY_INTERVAL,
    DEFAULT_REQUEST_TIMEOUT, Gather, Portable, RemoteFuture, RemoteFutures, RemoteStream,
};
pub use cluster::{ClientBuilder, ClusterError};
pub use proto::{TaskError, TaskErrorKind, WorkerId};
pub use transport::{Identity, TlsError, TransportSettings, Trust};
