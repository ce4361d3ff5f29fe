//! Distributed streams: workers, the client, the wire protocol and remote functions.
//!
//! The types a program names are here: [`Client`], [`ConnectConfig`], [`ClientAuth`],
//! [`Trust`], [`Identity`], [`TransportSettings`], [`Limits`], [`WorkerId`], their errors, and
//! [`ClientBuilder`] for a client with workers of its own; [`worker`] runs workers, and [`obs`]
//! has the metrics and the dashboard.
//!
//! ```
//! use rivulet::remote::{ClientAuth, ConnectConfig, Identity, TransportSettings, Trust};
//!
//! let identity = Identity::self_signed(vec!["localhost".to_owned()])?;
//! let mut config = ConnectConfig::new(identity.trust_pinned(), ClientAuth::Secret(b"s3cret".to_vec()));
//! config.transport = TransportSettings::default();
//! # let _ = config;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Inside, the folder is in layers that import one way: `proto`, the sans-IO core (ids,
//! messages, framing, and the rules of both sides), with neither tokio nor quinn; `registry`,
//! the remote functions compiled into this binary; `transport`, TLS, QUIC settings, the secret
//! proof and framed streams; the client and the [`worker`], each driving `proto` over
//! `transport`; the cluster ([`Client::local`], [`ClientBuilder`]), the one part that uses both
//! sides; and [`obs`], used by both sides. `proto`, `registry`, `transport` and `sim` (the
//! simulated workers of the tests) are public for the tests and fuzz targets but hidden from
//! these docs: they are the wire, not the API.

#[doc(hidden)]
pub mod proto;
#[doc(hidden)]
pub mod registry;
#[doc(hidden)]
pub mod transport;

mod client;
mod cluster;
pub mod obs;
#[doc(hidden)]
pub mod sim;
pub mod worker;

pub use client::{
    Client, ClientAuth, ClientError, ConnectConfig, DEFAULT_DISCOVERY_INTERVAL,
    DEFAULT_REQUEST_TIMEOUT, Gather, GatherAcked, GatherUnordered, Portable, RemoteFuture,
    RemoteFutures, RemoteStream, Scatterable,
};
pub use cluster::{ClientBuilder, ClusterError};
pub use proto::{FunctionId, Key, Limits, Refusal, TaskError, TaskErrorKind, WorkerId};
pub use transport::{Identity, TlsError, TransportSettings, Trust};
