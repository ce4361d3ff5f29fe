//! The wire protocol's message types, independent of any socket (sans-IO).
//!
//! A connection carries one QUIC bidirectional stream, opened by the client, which writes first:
//! the client sends [`Hello`] and the worker answers [`HelloReply`]. After a welcome the client
//! sends [`ClientMessage`]s and the worker answers each request with a [`Reply`] carrying the
//! request's id, in whatever order the requests finish.
//!
//! One ordered stream (rather than a stream per request) keeps the client's requests in the order
//! it made them, so a task submitted right after the scatter of its input finds that input there;
//! and it costs one frame per message, with no stream set-up.
//!
//! Every message travels as one length-delimited frame holding its postcard encoding (see
//! [`encode`](crate::remote::proto::encode)). Values are postcard-encoded bytes: a worker never needs
//! their types, only the functions of its registry do.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ids::{Key, Token};

/// The version of this protocol; a worker refuses a client of another version.
pub const PROTOCOL_VERSION: u32 = 4;

/// The ALPN protocol name both sides require during the TLS handshake.
pub const ALPN: &[u8] = b"rivulet/4";

/// The first message of a connection, from client to worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The client's [`PROTOCOL_VERSION`].
    pub version: u32,
    /// Proof that the client knows the worker's shared secret, bound to this TLS session
    /// (see [`transport::proof`](crate::remote::transport::proof)); `None` when the client relies on its certificate.
    pub proof: Option<[u8; 32]>,
    /// The remote functions the client may ask for: name and signature (input and output types).
    pub functions: Vec<FunctionId>,
}

/// A remote function as both sides name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FunctionId {
    /// The stable name compiled into the binary (`module::path::name`).
    pub name: String,
    /// The input and output types, so that two builds disagreeing on them are told apart.
    pub signature: String,
}

/// The worker's answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelloReply {
    /// The client may send requests.
    Welcome {
        /// How many tasks the worker runs at once.
        slots: u32,
    },
    /// The worker will not serve this client; it closes the connection after this message.
    Refused(Refusal),
}

/// Why a worker refused a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The two sides speak different protocol versions.
    Version {
        /// The worker's version.
        worker: u32,
        /// The client's version.
        client: u32,
    },
    /// The client did not prove the shared secret, nor present a trusted certificate.
    Unauthenticated,
    /// The worker was built from other code: these functions are unknown to it, or have
    /// another signature there.
    MissingFunctions(Vec<FunctionId>),
}

/// Messages from client to worker after the welcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// A request; the worker answers with a [`Reply`] carrying the same `id`.
    Request {
        /// Chosen by the client, unique among its requests in flight.
        id: u64,
        /// What to do.
        request: Request,
    },
    /// Keep `value` under `key`. No reply: the client keeps the bytes as well, so it never
    /// needs to hear that they arrived (a key already in use is a protocol violation).
    Scatter {
        /// Where to keep it.
        key: Key,
        /// The postcard encoding of the value.
        value: Bytes,
    },
    /// One piece of a value too large for one frame, to keep under `key` once all of it has
    /// arrived. The pieces of one value follow each other in order (other messages may come
    /// between them); the first announces the whole length, which must be within the worker's
    /// value limit and above one piece. No reply, as for [`Scatter`](Self::Scatter).
    ScatterPart {
        /// Where to keep the value.
        key: Key,
        /// The length of the whole value's encoding.
        total: u64,
        /// Where in the value this piece starts: the bytes sent before it, so that a piece
        /// lost, repeated or out of order is seen, never put together into a wrong value.
        offset: u64,
        /// The next bytes of it.
        chunk: Bytes,
    },
    /// The client holds no handle to these values any more: free them. No reply.
    Release(Vec<Key>),
    /// Let one peer (another worker of the client) that presents `token` take a copy of the
    /// value under `key`, once it is made ([`Request::Pull`] on that worker's connection).
    /// The grant ends when it is used or the value is released. No reply.
    Grant {
        /// Which value.
        key: Key,
        /// The capability the peer must present.
        token: Token,
    },
}

/// The worker's answer to the request with the same `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The id of the request answered.
    pub id: u64,
    /// The answer.
    pub response: Response,
}

impl Reply {
    /// About how many bytes the reply takes on the wire: its values' and messages' lengths,
    /// plus a little for the rest (what a worker counts against the replies a client has not
    /// read yet).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use rivulet::remote::proto::{Reply, Response};
    ///
    /// let reply = Reply { id: 1, response: Response::Value(Bytes::from(vec![0; 1000])) };
    /// assert!(reply.weight() >= 1000);
    /// ```
    pub fn weight(&self) -> usize {
        const OVERHEAD: usize = 32;
        OVERHEAD
            + match &self.response {
                Response::Done { values, sizes, .. } => {
                    values.iter().flatten().map(Bytes::len).sum::<usize>() + 8 * sizes.len()
                }
                Response::Value(bytes) | Response::ValuePart { chunk: bytes, .. } => bytes.len(),
                Response::Failed(failure) => failure.message.len(),
                Response::Rejected(message) => message.len(),
            }
    }
}

/// A request to a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Run a task once its inputs are ready; the answer comes when it has finished.
    Submit(Task),
    /// [`Submit`](Self::Submit), with some of the task's inputs travelling along instead of
    /// being scattered first: one message per item where a scatter and a submit would be two.
    /// The worker keeps each value under its key for this task alone and frees it once the
    /// task has started (it needs no release; the client keeps the bytes, to send them again).
    /// Each key must be one of the task's inputs, vacant, and the value within one frame and
    /// the worker's value limit.
    SubmitWith {
        /// The task.
        task: Task,
        /// Inputs of the task, under the keys the task names them by.
        inputs: Vec<(Key, Bytes)>,
    },
    /// Send back the value under `key` (waiting for the task that makes it, if it runs).
    Fetch {
        /// Which value.
        key: Key,
    },
    /// Fetch a value from the worker holding it (`from`, to which the client granted it) and
    /// keep it under `key`, as if scattered: worker to worker, without the bytes coming
    /// through the client. Answered with [`Response::Done`] (the value's size) once it is
    /// here, or [`Response::Failed`] with [`FailureKind::Unavailable`] if the holder cannot be
    /// reached or refuses.
    Pull {
        /// Where to keep the copy (vacant).
        key: Key,
        /// The worker to take it from.
        from: Holder,
    },
}

/// Where a value to [pull](Request::Pull) is, and the capability for it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The holder's address, as the client reaches it.
    pub addr: std::net::SocketAddr,
    /// The holder's TLS certificate (DER), as the client saw it: the only one the puller
    /// accepts from that address.
    pub certificate: Bytes,
    /// The capability the client granted the holder.
    pub token: Token,
}

impl std::fmt::Debug for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Holder")
            .field("addr", &self.addr)
            .field(
                "certificate",
                &format_args!("{} bytes", self.certificate.len()),
            )
            .finish_non_exhaustive()
    }
}

/// A function applied to values the worker holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// What the task does with its inputs and outputs.
    pub kind: TaskKind,
    /// The registered function to run (unused for [built-in](TaskKind::is_built_in) kinds).
    pub function: String,
    /// The postcard encoding of the function value itself (its parameters; empty for a unit struct).
    pub params: Bytes,
    /// The keys of the inputs, in order.
    pub inputs: Vec<Key>,
    /// The keys under which to keep the results.
    pub outputs: Vec<Key>,
    /// Also send the results back in [`Response::Done`] (those that are small), saving
    /// fetches.
    pub reply_with_value: bool,
}

/// The shapes of task a worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskKind {
    /// `inputs = [x]`, `outputs = [f(x)]`.
    Map,
    /// `inputs = [x]`, no outputs: the verdict `f(x): bool` comes back in [`Response::Done`].
    Retain,
    /// `inputs = [a, b]`, `outputs = [(a, b)]`, built without running any function.
    Zip,
    /// `inputs = [state, x]`, `outputs = [state', y]` where `f(state, x) = (state', y)`.
    Accumulate,
    /// `inputs = [x1, .., xn]` (any number), `outputs = [vec![x1, .., xn]]`, built without
    /// running any function (a `Vec`'s encoding is its length, then its elements').
    Collect,
    /// `inputs = [vec![x1, .., xn]]`, `outputs = [x1, .., xn]`, cut without running any
    /// function at the offsets the client gives in `params` (see
    /// [`split_params`](crate::remote::proto::split_params)).
    Split,
}

impl TaskKind {
    /// Whether the worker makes this task's outputs itself, from its inputs' bytes, rather than
    /// by running a registered function (its `function` is then unused).
    ///
    /// ```
    /// use rivulet::remote::proto::TaskKind;
    /// assert!(TaskKind::Collect.is_built_in());
    /// assert!(!TaskKind::Map.is_built_in());
    /// ```
    pub fn is_built_in(self) -> bool {
        matches!(self, TaskKind::Zip | TaskKind::Collect | TaskKind::Split)
    }
}

/// The worker's answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// A task finished and its outputs are kept.
    Done {
        /// The encoded size of each output, in order.
        sizes: Vec<u64>,
        /// A retain task's verdict.
        verdict: Option<bool>,
        /// The outputs' encodings, in order, when the task asked for them: `None` for one too
        /// large to come along (the worker decides the limit; the client fetches it).
        values: Vec<Option<Bytes>>,
    },
    /// The value asked for by a fetch.
    Value(Bytes),
    /// One piece of the value asked for by a fetch, when it is too large for one frame. The
    /// pieces of one reply come in order, each saying the whole length; the reply is complete
    /// when that many bytes have come.
    ValuePart {
        /// The length of the whole value's encoding.
        total: u64,
        /// Where in the value this piece starts (see [`ClientMessage::ScatterPart`]).
        offset: u64,
        /// The next bytes of it.
        chunk: Bytes,
    },
    /// The task failed (its function panicked or returned an error), or the value asked for is
    /// that of a failed task: the item's error, with its kind and message.
    Failed(Failure),
    /// The request itself was wrong (an unknown key or function); the worker logs it too.
    Rejected(String),
}

/// Why a task has no value: what the worker says in [`Response::Failed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What went wrong.
    pub kind: FailureKind,
    /// The details: a panic's message, the function's `Err` text, the limit exceeded.
    pub message: String,
}

impl Failure {
    /// A failure of this kind with this message.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The kinds of [`Failure`], kept apart on the wire so the client can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailureKind {
    /// The function panicked.
    Panicked,
    /// The function returned `Err`.
    Returned,
    /// The function's parameters, or its input, could not be decoded as its types.
    Decode,
    /// The function's output could not be encoded, or cut into state and value.
    Encode,
    /// A value would be larger than the worker's value limit.
    ValueTooLarge,
    /// The worker stopped the task (it is shutting down): run it elsewhere.
    Aborted,
    /// The worker refused the value or task: this client is over its quota there (bytes held,
    /// or tasks unfinished).
    Overloaded,
    /// A value to be [pulled](Request::Pull) from another worker could not be had from it:
    /// that worker is unreachable from here, was lost, or no longer holds the grant.
    Unavailable,
}

/// Folds the releases among a batch of messages about to be written into one, where the last
/// of them was: a worker then reads one message for many values let go of. Only releases move,
/// and only later, which is always safe (a release never has to come before anything).
///
/// ```
/// use rivulet::remote::proto::{ClientMessage, Key, Request, merge_releases};
///
/// let fetch = ClientMessage::Request { id: 1, request: Request::Fetch { key: Key(9) } };
/// let mut batch = vec![
///     ClientMessage::Release(vec![Key(1)]),
///     fetch.clone(),
///     ClientMessage::Release(vec![Key(2), Key(3)]),
/// ];
/// merge_releases(&mut batch);
/// assert_eq!(batch, vec![fetch, ClientMessage::Release(vec![Key(1), Key(2), Key(3)])]);
/// ```
pub fn merge_releases(batch: &mut Vec<ClientMessage>) {
    let releases = batch
        .iter()
        .filter(|message| matches!(message, ClientMessage::Release(_)))
        .count();
    if releases < 2 {
        return;
    }
    let mut keys = Vec::new();
    let mut seen = 0;
    batch.retain_mut(|message| {
        let ClientMessage::Release(these) = message else {
            return true;
        };
        seen += 1;
        keys.append(these);
        if seen == releases {
            *these = std::mem::take(&mut keys);
            return true;
        }
        false
    });
}
