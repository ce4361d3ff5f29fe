//! The sans-IO core of the distributed mode: what the two sides say to each other and the rules
//! they follow, with no sockets, no tasks and no clock of its own.
//!
//! Like `quinn-proto`, everything here takes bytes, messages and the time in and gives messages
//! and decisions out, so it can be tested, simulated and fuzzed deterministically in memory; the
//! [`transport`](crate::remote::transport), client and worker layers drive it over QUIC and
//! tokio. Nothing in this folder names tokio or quinn.
//!
//! - ids: [`Key`], [`WorkerId`];
//! - messages: [`Hello`], [`HelloReply`], [`ClientMessage`], [`Reply`], ...;
//! - framing: [`encode`], [`FrameDecoder`], and the sizes both sides keep to ([`Limits`]);
//! - the worker's decision on a hello ([`check_hello`]) and its side of a connection
//!   ([`WorkerSession`]: messages in, [`Action`]s out);
//! - worker to worker: [`PeerRequest`], [`PeerAnswer`] and the holder's [`Grants`];
//! - the client's requests in flight ([`InFlight`]), its placement rule ([`choose_worker`]) and
//!   the waits before it dials a lost worker again ([`Backoff`]);
//! - the item error users see: [`TaskError`].

mod backoff;
mod builtin;
mod frame;
mod handshake;
mod ids;
mod limits;
mod message;
mod peer;
mod pending;
mod placement;
mod session;
mod task_error;

pub use backoff::Backoff;
pub use builtin::{read_varint, split_params};
pub use frame::{DEFAULT_MAX_FRAME, FrameDecoder, FrameError, HEADER_LEN, decode_exact, encode};
pub use handshake::{MAX_HELLO, check_hello, check_hello_body};
pub use ids::{Key, Token, WorkerId};
pub use limits::{
    DEFAULT_INLINE, DEFAULT_MAX_BYTES_HELD, DEFAULT_MAX_TASKS, DEFAULT_MAX_UNREAD,
    DEFAULT_MAX_VALUE, DEFAULT_PIECE, Limits, pieces,
};
pub use message::*;
pub use peer::{
    Grantor, Grants, MAX_PEER_REQUEST, PEER_ALPN, PEER_GRANT_WAIT, PEER_TIMEOUT, PULL_GRACE,
    PeerAnswer, PeerRequest, answer_peer, unavailable,
};
pub use pending::{AnswerError, Answered, InFlight, ReplyError};
pub use placement::{INITIAL_TASK_TIME, Load, SAMPLE_ABOVE, choose_placement, choose_worker};
pub use session::{Action, Pull, Run, TaskId, TaskOutput, Violation, WorkerSession};
pub use task_error::{TaskError, TaskErrorKind};
