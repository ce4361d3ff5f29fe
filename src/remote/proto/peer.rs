//! Worker to worker: the messages one worker sends another to take a value the client granted,
//! and the holder's table of grants.
//!
//! The puller opens a QUIC connection to the holder with the ALPN name [`PEER_ALPN`], accepting
//! only the certificate the client saw for that holder, and for each value opens a stream and
//! sends one [`PeerRequest`] frame. The holder answers with one [`PeerAnswer`] frame; after
//! [`PeerAnswer::Value`] come exactly `total` raw bytes, then the end of the stream. The
//! capability ([`Token`]) is the only proof the puller gives: the client drew it and told only
//! the holder and the puller, over their authenticated connections.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ids::Token;
use super::message::{Failure, FailureKind};

/// The ALPN protocol name of connections between workers.
pub const PEER_ALPN: &[u8] = b"rivulet-peer/4";

/// How long a holder lets a peer's request wait for its grant to arrive (the client sends the
/// grant to the holder and the pull to the puller at the same time; the grant is almost always
/// first).
pub const PEER_GRANT_WAIT: Duration = Duration::from_secs(2);

/// How long a puller gives connecting to the holder, and the holder's answer once asked (over
/// and above [`PEER_GRANT_WAIT`]).
pub const PEER_TIMEOUT: Duration = Duration::from_secs(5);

/// How much longer than the client's request deadline a [`Request::Pull`](super::Request::Pull)
/// may take: the puller's own bounds on reaching the holder and hearing from it. A slow holder
/// is no reason to give up on the puller.
pub const PULL_GRACE: Duration = Duration::from_secs(12);

/// The most bytes a [`PeerRequest`] frame may take (a holder reads no more before it has a
/// valid token).
pub const MAX_PEER_REQUEST: usize = 128;

/// A puller's request for one value, the only frame it sends on its stream.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRequest {
    /// The puller's [`PROTOCOL_VERSION`](super::PROTOCOL_VERSION).
    pub version: u32,
    /// The capability the client handed out for the value.
    pub token: Token,
}

impl std::fmt::Debug for PeerRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerRequest")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// The holder's answer to a [`PeerRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerAnswer {
    /// The value follows: exactly `total` bytes, then the end of the stream.
    Value {
        /// The length of the value's encoding.
        total: u64,
    },
    /// The value was granted, but its task failed: the copy is that failure.
    Failed(Failure),
    /// No grant for this token (never given, used already, or its value released), or
    /// another protocol version.
    Refused(String),
}

/// Who granted a value: the holder's connection to that client, so that a connection's grants
/// end with it.
pub type Grantor = u64;

/// The holder's grants, by token: what each gives, and which connection gave it.
///
/// Each grant is taken once. A connection's grants go when it ends
/// ([`revoke_all`](Self::revoke_all)), and one grant when its value is released
/// ([`revoke`](Self::revoke)), so the table holds no more than the values the connections keep.
///
/// ```
/// use bytes::Bytes;
/// use rivulet::remote::proto::{Grants, Token};
///
/// let mut grants = Grants::default();
/// grants.offer(Token([1; 32]), 7, Ok(Bytes::from_static(b"value")));
/// assert!(grants.take(&Token([2; 32])).is_none()); // a guess gets nothing
/// assert_eq!(grants.take(&Token([1; 32])), Some(Ok(Bytes::from_static(b"value"))));
/// assert!(grants.take(&Token([1; 32])).is_none()); // once only
/// ```
#[derive(Debug, Default)]
pub struct Grants {
    by_token: HashMap<Token, (Grantor, Result<Bytes, Failure>)>,
}

impl Grants {
    /// Records that `grantor` lets the bearer of `token` take `value` (or its failure).
    pub fn offer(&mut self, token: Token, grantor: Grantor, value: Result<Bytes, Failure>) {
        self.by_token.insert(token, (grantor, value));
    }

    /// Takes the grant for `token`, if there is one: it is gone afterwards.
    pub fn take(&mut self, token: &Token) -> Option<Result<Bytes, Failure>> {
        self.by_token.remove(token).map(|(_, value)| value)
    }

    /// Ends these grants (their value was released).
    pub fn revoke(&mut self, tokens: &[Token]) {
        for token in tokens {
            self.by_token.remove(token);
        }
    }

    /// Ends every grant of `grantor` (its connection ended).
    pub fn revoke_all(&mut self, grantor: Grantor) {
        self.by_token.retain(|_, (by, _)| *by != grantor);
    }

    /// How many grants are open.
    pub fn len(&self) -> usize {
        self.by_token.len()
    }

    /// Whether no grant is open.
    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }
}

/// What a holder answers a [`PeerRequest`], given what its grants had for the token (`None`:
/// nothing, even after waiting a while for the grant to arrive), and the value that follows the
/// answer, if any.
///
/// ```
/// use bytes::Bytes;
/// use rivulet::remote::proto::{answer_peer, PeerAnswer, PeerRequest, Token, PROTOCOL_VERSION};
///
/// let request = PeerRequest { version: PROTOCOL_VERSION, token: Token([1; 32]) };
/// let (answer, body) = answer_peer(&request, Some(Ok(Bytes::from_static(b"abc"))));
/// assert_eq!(answer, PeerAnswer::Value { total: 3 });
/// assert_eq!(body, Some(Bytes::from_static(b"abc")));
/// assert!(matches!(answer_peer(&request, None).0, PeerAnswer::Refused(_)));
/// ```
pub fn answer_peer(
    request: &PeerRequest,
    granted: Option<Result<Bytes, Failure>>,
) -> (PeerAnswer, Option<Bytes>) {
    if request.version != super::PROTOCOL_VERSION {
        return (
            PeerAnswer::Refused(format!(
                "protocol version {} (this worker speaks {})",
                request.version,
                super::PROTOCOL_VERSION
            )),
            None,
        );
    }
    match granted {
        Some(Ok(bytes)) => (
            PeerAnswer::Value {
                total: bytes.len() as u64,
            },
            Some(bytes),
        ),
        Some(Err(failure)) => (PeerAnswer::Failed(failure), None),
        None => (
            PeerAnswer::Refused("no grant for this token".to_owned()),
            None,
        ),
    }
}

/// The failure a pull ends with when the holder cannot give the value: `why`, as an
/// [`Unavailable`](FailureKind::Unavailable) failure naming the holder.
pub fn unavailable(holder: std::net::SocketAddr, why: impl std::fmt::Display) -> Failure {
    Failure::new(
        FailureKind::Unavailable,
        format!("could not pull the value from the worker at {holder}: {why}"),
    )
}
