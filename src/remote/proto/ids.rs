//! The names both sides give to values, requests and workers.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// A client-chosen name for a value kept on a worker. Keys are scoped to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key(pub u64);

/// Which worker a value lives on: its place in the client's list, and its address.
///
/// ```
/// # use rivulet::remote::WorkerId;
/// fn show(worker: WorkerId) -> String { worker.to_string() }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkerId {
    pub(crate) index: usize,
    pub(crate) addr: SocketAddr,
}

impl WorkerId {
    /// The worker at place `index` of a client's list, listening on `addr`.
    pub fn new(index: usize, addr: SocketAddr) -> Self {
        WorkerId { index, addr }
    }

    /// The worker's place in the client's list of workers (0, 1, ...).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The worker's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker {} ({})", self.index, self.addr)
    }
}

/// A capability for one value: whoever presents it to the worker holding the value may take a
/// copy, once. The client draws it at random (256 bits) and hands it only to the holder (with
/// [`ClientMessage::Grant`](super::ClientMessage::Grant)) and to the worker that is to fetch
/// the value, both over authenticated connections; so a peer that presents it proves the
/// client sent it.
///
/// Its `Debug` does not show the bytes.
///
/// ```
/// use rivulet::remote::proto::Token;
/// assert_eq!(format!("{:?}", Token([7; 32])), "Token(..)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Token(pub [u8; 32]);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}
