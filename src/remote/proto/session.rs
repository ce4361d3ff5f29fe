//! A worker's side of one client connection, as a state machine: messages in, actions out.

use std::collections::{HashMap, VecDeque};

use bytes::{Bytes, BytesMut};

use super::builtin;
use super::ids::{Key, Token};
use super::limits::{Limits, pieces};
use super::message::{
    ClientMessage, Failure, FailureKind, Holder, Reply, Request, Response, Task, TaskKind,
};

/// A task of this session, as the driver names it when it reports the task finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u64);

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run a registered function on a task slot, then report with [`WorkerSession::finished`].
    Run(Run),
    /// Send this reply to the client.
    Send(Reply),
    /// Let a peer that presents `token` take `value` (put it in the worker's grants).
    Offer {
        /// The capability.
        token: Token,
        /// The value granted, or the failure its key holds.
        value: Result<Bytes, Failure>,
    },
    /// End these grants: their value is released.
    Revoke(Vec<Token>),
    /// Fetch a value from another worker, then report with [`WorkerSession::pulled`].
    Pull(Pull),
}

/// A value to fetch from another worker: [`Action::Pull`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    /// Where it is to be kept here.
    pub key: Key,
    /// Where it is, and the capability for it.
    pub from: Holder,
}

/// A function to run: [`Action::Run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The task to report when it has run.
    pub task: TaskId,
    /// The shape of the task (what its output is cut into).
    pub kind: TaskKind,
    /// The registered function.
    pub function: String,
    /// The encoding of the function value (its parameters).
    pub params: Bytes,
    /// The encoding of the input: the one input, or the inputs back to back (a tuple's
    /// postcard encoding is its fields' encodings in order).
    pub input: Bytes,
}

/// What a task made: its outputs' encodings (one per output key) and a retain verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOutput {
    /// One encoding per output of the task, in order.
    pub values: Vec<Bytes>,
    /// A retain task's verdict.
    pub verdict: Option<bool>,
}

/// A message that breaks the protocol: the worker closes the connection, saying this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// A scatter or a task's output names a key that is already in use.
    #[error("key {0:?} is already in use")]
    KeyInUse(Key),
    /// A task or fetch names a key this connection never had.
    #[error("unknown key {0:?}")]
    UnknownKey(Key),
    /// A task names a function this worker does not have.
    #[error("unknown function `{0}`")]
    UnknownFunction(String),
    /// A task has the wrong number of inputs or outputs for its kind.
    #[error("{kind:?} task with {inputs} inputs and {outputs} outputs")]
    TaskShape {
        /// The task's kind.
        kind: TaskKind,
        /// How many inputs it named.
        inputs: usize,
        /// How many outputs it named.
        outputs: usize,
    },
    /// A scattered value is larger than the worker's value limit (the client checks this
    /// before sending, so only a broken client does it).
    #[error("a value of {len} bytes under {key:?} exceeds the limit of {max} bytes")]
    ValueTooLarge {
        /// Where it was to be kept.
        key: Key,
        /// Its length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// A value sent along with a task is not one of that task's inputs (or is sent twice).
    #[error("{0:?} came with a task that does not take it")]
    StrayInput(Key),
    /// A piece of a scattered value does not fit the pieces before it.
    #[error("a piece of the value under {key:?} does not fit: {reason}")]
    BadPiece {
        /// The value's key.
        key: Key,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// What is kept under a key.
#[derive(Debug)]
enum Held {
    Ready(Bytes),
    Failed(Failure),
    /// The task that will make it is waiting for its inputs or running.
    Pending(TaskId),
    /// It is being pulled from another worker.
    Arriving,
}

/// Who waits for a pending value.
#[derive(Debug, Clone, Copy)]
enum Waiter {
    Task(TaskId),
    Fetch(u64),
    Grant(Token),
}

/// A task that has not finished.
#[derive(Debug)]
struct Unfinished {
    request: u64,
    task: Task,
    /// How many of its inputs are still pending.
    missing: usize,
    /// Inputs that came with the task ([`Request::SubmitWith`]): freed once it has started.
    transient: Vec<Key>,
}

/// A value arriving in pieces.
#[derive(Debug)]
struct Assembly {
    total: u64,
    /// The bytes of its pieces so far (kept in `bytes`, unless the value is refused).
    received: u64,
    bytes: BytesMut,
    /// Why the value will not be kept: its pieces are only counted.
    refused: Option<Failure>,
}

/// How much buffer a value arriving in pieces gets up front; it grows as the pieces come, so a
/// peer announcing a large value and sending little costs little.
const ASSEMBLY_RESERVE: u64 = 16 << 20;

/// A worker's side of one client connection, as a state machine: messages in, actions out.
///
/// [`WorkerSession`] holds the connection's values (scattered, assembled from pieces, or made
/// by tasks), orders tasks after the tasks that make their inputs, answers fetches once their
/// value exists, and says what to run and what to send. It runs nothing and sends nothing: the
/// worker's connection driver feeds it messages and finished tasks, and carries out the
/// [`Action`]s it returns, so every rule here is tested (and fuzzed) without a socket or a clock.
///
/// ```
/// use bytes::Bytes;
/// use rivulet::remote::proto::{
///     Action, ClientMessage, Key, Limits, Request, Response, Task, TaskKind, TaskOutput,
///     WorkerSession,
/// };
///
/// let mut session = WorkerSession::new(Limits::default());
/// let known = |name: &str| name == "inc";
/// session.handle(ClientMessage::Scatter { key: Key(0), value: Bytes::from_static(&[1]) }, known).unwrap();
/// let task = Task {
///     kind: TaskKind::Map,
///     function: "inc".into(),
///     params: Bytes::new(),
///     inputs: vec![Key(0)],
///     outputs: vec![Key(1)],
///     reply_with_value: true,
/// };
/// session.handle(ClientMessage::Request { id: 7, request: Request::Submit(task) }, known).unwrap();
///
/// // The session asks for the function to be run on the input's bytes...
/// let Some(Action::Run(run)) = session.poll_action() else { panic!("expected a run") };
/// assert_eq!(run.input, Bytes::from_static(&[1]));
/// // ... and, told the result, answers the request.
/// session.finished(run.task, Ok(TaskOutput { values: vec![Bytes::from_static(&[2])], verdict: None }));
/// let Some(Action::Send(reply)) = session.poll_action() else { panic!("expected a reply") };
/// assert_eq!(reply.id, 7);
/// assert!(matches!(reply.response, Response::Done { .. }));
/// assert_eq!(session.values_held(), 2);
/// ```
#[derive(Debug)]
pub struct WorkerSession {
    limits: Limits,
    values: HashMap<Key, Held>,
    bytes_held: u64,
    tasks: HashMap<TaskId, Unfinished>,
    running: usize,
    waiting: HashMap<Key, Vec<Waiter>>,
    pieces: HashMap<Key, Assembly>,
    next_task: u64,
    actions: VecDeque<Action>,
    /// Set while the worker as a whole is short of memory: new values and tasks are refused.
    paused: Option<String>,
    /// Keys just made (or released while their task ran) whose waiters are to be woken.
    to_wake: VecDeque<Key>,
    /// Grants offered for each key, revoked when it is released.
    offered: HashMap<Key, Vec<Token>>,
    /// The request of each value being pulled from another worker.
    pulls: HashMap<Key, u64>,
}

impl WorkerSession {
    /// A session with no values, under these limits.
    pub fn new(limits: Limits) -> Self {
        WorkerSession {
            limits,
            values: HashMap::new(),
            bytes_held: 0,
            tasks: HashMap::new(),
            running: 0,
            waiting: HashMap::new(),
            pieces: HashMap::new(),
            next_task: 0,
            actions: VecDeque::new(),
            paused: None,
            to_wake: VecDeque::new(),
            offered: HashMap::new(),
            pulls: HashMap::new(),
        }
    }

    /// Refuses new values and tasks (with [`FailureKind::Overloaded`] and `reason`) while
    /// `reason` is `Some`: the worker sheds load before it runs out of memory, as Dask's
    /// workers pause at 80 % of theirs. Fetches, releases and tasks already accepted go on.
    pub fn pause(&mut self, reason: Option<String>) {
        self.paused = reason;
    }

    /// The limits this session enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Takes one message from the client. `known` says whether the worker has a function.
    ///
    /// # Errors
    ///
    /// A [`Violation`] when the message breaks the protocol; the connection should be closed
    /// (the session is left as it was before the message).
    pub fn handle(
        &mut self,
        message: ClientMessage,
        known: impl Fn(&str) -> bool,
    ) -> Result<(), Violation> {
        let handled = match message {
            ClientMessage::Scatter { key, value } => self.scatter(key, value),
            ClientMessage::ScatterPart {
                key,
                total,
                offset,
                chunk,
            } => self.piece(key, total, offset, chunk),
            ClientMessage::Release(keys) => {
                for key in keys {
                    self.release(key);
                }
                Ok(())
            }
            ClientMessage::Grant { key, token } => self.grant(key, token),
            ClientMessage::Request {
                id,
                request: Request::Pull { key, from },
            } => self.pull(id, key, from),
            ClientMessage::Request {
                id,
                request: Request::Fetch { key },
            } => self.fetch(id, key),
            ClientMessage::Request {
                id,
                request: Request::Submit(task),
            } => self.submit(id, task, Vec::new(), known),
            ClientMessage::Request {
                id,
                request: Request::SubmitWith { task, inputs },
            } => self.submit_with(id, task, inputs, known),
        };
        self.wake_all();
        handled
    }

    /// Reports that the task asked for by [`Action::Run`] has run. A task this session does
    /// not know (already finished, or never asked for) is ignored.
    pub fn finished(&mut self, task: TaskId, outcome: Result<TaskOutput, Failure>) {
        let Some(unfinished) = self.tasks.remove(&task) else {
            return;
        };
        self.running = self.running.saturating_sub(1);
        self.complete(task, unfinished, outcome);
        self.wake_all();
    }

    /// Wakes what waits for the keys made since the last call, and what that makes in turn,
    /// from a queue: a long chain of tasks waiting on each other is woken in a loop, never by
    /// recursion as deep as the chain.
    fn wake_all(&mut self) {
        while let Some(key) = self.to_wake.pop_front() {
            self.wake(key);
        }
    }

    /// The next thing the driver must do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// How many values are kept (made or pending), pieces of unfinished ones not counted.
    pub fn values_held(&self) -> usize {
        self.values.len()
    }

    /// The bytes of the values kept, and of the pieces of those still arriving.
    pub fn bytes_held(&self) -> u64 {
        let arriving: u64 = self.pieces.values().map(|a| a.bytes.len() as u64).sum();
        self.bytes_held.saturating_add(arriving)
    }

    /// The bytes counted against the client's quota: the values kept, and the whole announced
    /// length of each value still arriving in pieces (so announcing many values and sending
    /// them slowly cannot get past the quota).
    fn bytes_committed(&self) -> u64 {
        let arriving: u64 = self
            .pieces
            .values()
            .filter(|a| a.refused.is_none())
            .map(|a| a.total)
            .sum();
        self.bytes_held.saturating_add(arriving)
    }

    /// How many tasks have not finished (waiting for inputs, or running).
    pub fn unfinished_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// How many tasks the driver was asked to run and has not reported.
    pub fn running_tasks(&self) -> usize {
        self.running
    }

    fn scatter(&mut self, key: Key, value: Bytes) -> Result<(), Violation> {
        self.check_vacant(key)?;
        let len = value.len() as u64;
        if len > self.limits.max_value {
            return Err(Violation::ValueTooLarge {
                key,
                len,
                max: self.limits.max_value,
            });
        }
        let held = self.within_quota(value.len() as u64, Held::Ready(value));
        self.store(key, held);
        Ok(())
    }

    /// `held`, or a typed refusal in its place if keeping `len` more bytes would take this
    /// client over its quota (or the worker is paused).
    fn within_quota(&self, len: u64, held: Held) -> Held {
        match self.quota_refusal(len) {
            Some(failure) => Held::Failed(failure),
            None => held,
        }
    }

    /// Why keeping `len` more bytes is refused, if it is.
    fn quota_refusal(&self, len: u64) -> Option<Failure> {
        if let Some(reason) = &self.paused {
            return Some(Failure::new(FailureKind::Overloaded, reason.clone()));
        }
        if self.bytes_committed().saturating_add(len) <= self.limits.max_bytes_held {
            return None;
        }
        Some(Failure::new(
            FailureKind::Overloaded,
            format!(
                "keeping {len} more bytes would take this client over its {} bytes on the worker",
                self.limits.max_bytes_held
            ),
        ))
    }

    fn piece(&mut self, key: Key, total: u64, offset: u64, chunk: Bytes) -> Result<(), Violation> {
        if !self.pieces.contains_key(&key) {
            self.check_vacant(key)?;
            // Checked before the key is taken, so a refused first piece leaves it free.
            if offset != 0 {
                return Err(Violation::BadPiece {
                    key,
                    reason: "the first piece of a value does not start at its beginning",
                });
            }
            if chunk.len() as u64 > total {
                return Err(Violation::BadPiece {
                    key,
                    reason: "it runs past the announced length",
                });
            }
            if total > self.limits.max_value {
                return Err(Violation::ValueTooLarge {
                    key,
                    len: total,
                    max: self.limits.max_value,
                });
            }
            // A value that would take the client over its quota is refused as a whole: its
            // pieces are counted and dropped, and its key holds the typed refusal.
            let refused = match self.within_quota(total, Held::Pending(TaskId(u64::MAX))) {
                Held::Failed(failure) => Some(failure),
                _ => None,
            };
            let reserve = match refused {
                Some(_) => 0,
                None => usize::try_from(total.min(ASSEMBLY_RESERVE)).unwrap_or(0),
            };
            self.pieces.insert(
                key,
                Assembly {
                    total,
                    received: 0,
                    bytes: BytesMut::with_capacity(reserve),
                    refused,
                },
            );
        }
        let Some(assembly) = self.pieces.get_mut(&key) else {
            return Ok(());
        };
        if assembly.total != total {
            return Err(Violation::BadPiece {
                key,
                reason: "its total length differs from the first piece's",
            });
        }
        if assembly.received != offset {
            return Err(Violation::BadPiece {
                key,
                reason: "it does not start where the pieces before it end",
            });
        }
        let after = assembly.received.saturating_add(chunk.len() as u64);
        if after > total {
            return Err(Violation::BadPiece {
                key,
                reason: "it runs past the announced length",
            });
        }
        assembly.received = after;
        if assembly.refused.is_none() {
            assembly.bytes.extend_from_slice(&chunk);
        }
        if after == total {
            if let Some(assembly) = self.pieces.remove(&key) {
                let held = match assembly.refused {
                    Some(failure) => Held::Failed(failure),
                    None => {
                        let bytes = assembly.bytes.freeze();
                        self.within_quota(bytes.len() as u64, Held::Ready(bytes))
                    }
                };
                self.store(key, held);
            }
        }
        Ok(())
    }

    fn check_vacant(&self, key: Key) -> Result<(), Violation> {
        // A key whose pull is still out stays in use even once released: its answer names it.
        if self.values.contains_key(&key)
            || self.pieces.contains_key(&key)
            || self.pulls.contains_key(&key)
        {
            return Err(Violation::KeyInUse(key));
        }
        Ok(())
    }

    fn store(&mut self, key: Key, held: Held) {
        if let Held::Ready(bytes) = &held {
            self.bytes_held = self.bytes_held.saturating_add(bytes.len() as u64);
        }
        if let Some(old) = self.values.insert(key, held) {
            self.forget(&old);
        }
    }

    fn forget(&mut self, held: &Held) {
        if let Held::Ready(bytes) = held {
            self.bytes_held = self.bytes_held.saturating_sub(bytes.len() as u64);
        }
    }

    fn release(&mut self, key: Key) {
        self.pieces.remove(&key);
        if let Some(held) = self.values.remove(&key) {
            self.forget(&held);
        }
        if let Some(tokens) = self.offered.remove(&key) {
            self.actions.push_back(Action::Revoke(tokens));
        }
        // What waited for the value waits no more: a fetch hears that it is gone, a task that
        // needed it fails. (A client keeps a task's inputs until the task is done, so only a
        // broken one does this; were the waiters kept, a key released and made again by a
        // task over the waiter's own output would leave both tasks waiting for ever.)
        let Some(waiters) = self.waiting.remove(&key) else {
            return;
        };
        for waiter in waiters {
            match waiter {
                Waiter::Fetch(id) => self.send(
                    id,
                    Response::Rejected(format!("{key:?} was released before it was made")),
                ),
                Waiter::Task(task) => {
                    if let Some(unfinished) = self.tasks.remove(&task) {
                        let failure = Failure::new(
                            FailureKind::Aborted,
                            format!("input {key:?} was released before the task could run"),
                        );
                        self.complete(task, unfinished, Err(failure));
                    }
                }
                Waiter::Grant(token) => self.offer_gone(key, token),
            }
        }
    }

    /// A grant whose value went before it was made: the peer hears so at once.
    fn offer_gone(&mut self, key: Key, token: Token) {
        let failure = Failure::new(
            FailureKind::Unavailable,
            format!("{key:?} was released before it was made"),
        );
        self.actions.push_back(Action::Offer {
            token,
            value: Err(failure),
        });
    }

    /// Lets the bearer of `token` take the value under `key` once it is made.
    fn grant(&mut self, key: Key, token: Token) -> Result<(), Violation> {
        let value = match self.values.get(&key) {
            None => return Err(Violation::UnknownKey(key)),
            Some(Held::Ready(bytes)) => Ok(bytes.clone()),
            Some(Held::Failed(failure)) => Err(failure.clone()),
            Some(Held::Pending(_) | Held::Arriving) => {
                self.waiting
                    .entry(key)
                    .or_default()
                    .push(Waiter::Grant(token));
                return Ok(());
            }
        };
        self.offer(key, token, value);
        Ok(())
    }

    fn offer(&mut self, key: Key, token: Token, value: Result<Bytes, Failure>) {
        self.offered.entry(key).or_default().push(token);
        self.actions.push_back(Action::Offer { token, value });
    }

    /// Starts pulling a value from another worker into `key`.
    fn pull(&mut self, id: u64, key: Key, from: Holder) -> Result<(), Violation> {
        self.check_vacant(key)?;
        if let Some(reason) = &self.paused {
            let failure = Failure::new(FailureKind::Overloaded, reason.clone());
            self.store(key, Held::Failed(failure.clone()));
            self.send(id, Response::Failed(failure));
            return Ok(());
        }
        self.values.insert(key, Held::Arriving);
        self.pulls.insert(key, id);
        self.actions.push_back(Action::Pull(Pull { key, from }));
        Ok(())
    }

    /// Reports how the pull asked for by [`Action::Pull`] ended: the value's bytes, or why it
    /// could not be had. The value is kept as a scattered one would be (within the quota and
    /// the value limit) and its request answered; a pull this session does not know is ignored.
    pub fn pulled(&mut self, key: Key, outcome: Result<Bytes, Failure>) {
        let Some(id) = self.pulls.remove(&key) else {
            return;
        };
        let max = self.limits.max_value;
        let outcome = outcome.and_then(|bytes| {
            let len = bytes.len() as u64;
            if len > max {
                return Err(Failure::new(
                    FailureKind::ValueTooLarge,
                    format!(
                        "the value pulled is {len} bytes, over the worker's limit of {max} bytes"
                    ),
                ));
            }
            match self.quota_refusal(len) {
                Some(failure) => Err(failure),
                None => Ok(bytes),
            }
        });
        let response = match &outcome {
            Ok(bytes) => Response::Done {
                sizes: vec![bytes.len() as u64],
                verdict: None,
                values: Vec::new(),
            },
            Err(failure) => Response::Failed(failure.clone()),
        };
        // Released while it came: nobody wants it, but the request is still answered.
        if matches!(self.values.get(&key), Some(Held::Arriving)) {
            let held = match outcome {
                Ok(bytes) => Held::Ready(bytes),
                Err(failure) => Held::Failed(failure),
            };
            self.store(key, held);
            self.to_wake.push_back(key);
        }
        self.send(id, response);
        self.wake_all();
    }

    /// How many values are being pulled from other workers.
    pub fn pulls_in_flight(&self) -> usize {
        self.pulls.len()
    }

    fn fetch(&mut self, id: u64, key: Key) -> Result<(), Violation> {
        match self.values.get(&key) {
            None => Err(Violation::UnknownKey(key)),
            Some(Held::Ready(bytes)) => {
                let bytes = bytes.clone();
                self.send_value(id, bytes);
                Ok(())
            }
            Some(Held::Failed(failure)) => {
                let failure = failure.clone();
                self.send(id, Response::Failed(failure));
                Ok(())
            }
            Some(Held::Pending(_) | Held::Arriving) => {
                self.waiting.entry(key).or_default().push(Waiter::Fetch(id));
                Ok(())
            }
        }
    }

    /// A task with some inputs along: they are kept as scattered values would be, for this
    /// task alone. Checked as a whole first, so a refused message leaves the session as it was.
    fn submit_with(
        &mut self,
        id: u64,
        task: Task,
        inputs: Vec<(Key, Bytes)>,
        known: impl Fn(&str) -> bool,
    ) -> Result<(), Violation> {
        for (i, (key, value)) in inputs.iter().enumerate() {
            if !task.inputs.contains(key) || inputs[..i].iter().any(|(k, _)| k == key) {
                return Err(Violation::StrayInput(*key));
            }
            self.check_vacant(*key)?;
            if task.outputs.contains(key) {
                return Err(Violation::KeyInUse(*key));
            }
            let len = value.len() as u64;
            if len > self.limits.max_value {
                return Err(Violation::ValueTooLarge {
                    key: *key,
                    len,
                    max: self.limits.max_value,
                });
            }
        }
        let transient: Vec<Key> = inputs.iter().map(|(key, _)| *key).collect();
        for (key, value) in inputs {
            let held = self.within_quota(value.len() as u64, Held::Ready(value));
            self.store(key, held);
        }
        let submitted = self.submit(id, task, transient.clone(), known);
        if submitted.is_err() {
            for key in transient {
                self.release(key);
            }
        }
        submitted
    }

    fn submit(
        &mut self,
        id: u64,
        task: Task,
        transient: Vec<Key>,
        known: impl Fn(&str) -> bool,
    ) -> Result<(), Violation> {
        let (inputs, outputs) = match task.kind {
            TaskKind::Map => (1, 1),
            TaskKind::Retain => (1, 0),
            TaskKind::Zip => (2, 1),
            TaskKind::Accumulate => (2, 2),
            TaskKind::Collect => (task.inputs.len(), 1),
            TaskKind::Split => (1, task.outputs.len()),
        };
        if task.inputs.len() != inputs || task.outputs.len() != outputs {
            return Err(Violation::TaskShape {
                kind: task.kind,
                inputs: task.inputs.len(),
                outputs: task.outputs.len(),
            });
        }
        if !task.kind.is_built_in() && !known(&task.function) {
            return Err(Violation::UnknownFunction(task.function));
        }
        if let Some(key) = task.inputs.iter().find(|k| !self.values.contains_key(k)) {
            return Err(Violation::UnknownKey(*key));
        }
        for (i, key) in task.outputs.iter().enumerate() {
            if task.outputs[..i].contains(key) {
                return Err(Violation::KeyInUse(*key));
            }
            self.check_vacant(*key)?;
        }
        let id_task = TaskId(self.next_task);
        self.next_task += 1;
        for key in &task.outputs {
            self.values.insert(*key, Held::Pending(id_task));
        }
        // An input that already failed fails the task with the same failure, by position; a
        // client with too many tasks here gets a typed refusal.
        // (By position: a failed input behind one still being made waits for it, since that
        // one may fail too, and first.)
        let failed = task
            .inputs
            .iter()
            .find_map(|key| match self.values.get(key) {
                Some(Held::Ready(_)) => None,
                Some(Held::Failed(failure)) => Some(Some(failure.clone())),
                _ => Some(None),
            })
            .flatten()
            .or_else(|| {
                let reason = self.paused.as_ref()?;
                Some(Failure::new(FailureKind::Overloaded, reason.clone()))
            })
            .or_else(|| {
                (self.tasks.len() >= self.limits.max_tasks).then(|| {
                    Failure::new(
                        FailureKind::Overloaded,
                        format!(
                            "this client has {} tasks unfinished on the worker, its quota",
                            self.limits.max_tasks
                        ),
                    )
                })
            });
        let mut missing = 0;
        if failed.is_none() {
            for key in &task.inputs {
                if let Some(Held::Pending(_) | Held::Arriving) = self.values.get(key) {
                    missing += 1;
                    self.waiting
                        .entry(*key)
                        .or_default()
                        .push(Waiter::Task(id_task));
                }
            }
        }
        let unfinished = Unfinished {
            request: id,
            task,
            missing,
            transient,
        };
        match failed {
            Some(failure) => self.complete(id_task, unfinished, Err(failure)),
            None if missing == 0 => self.start(id_task, unfinished),
            None => {
                self.tasks.insert(id_task, unfinished);
            }
        }
        Ok(())
    }

    /// Starts a task whose inputs are all made: a built-in task (a zip, a batch, a split) is
    /// made here, a function is run.
    fn start(&mut self, id: TaskId, mut unfinished: Unfinished) {
        let mut inputs = Vec::with_capacity(unfinished.task.inputs.len());
        for key in &unfinished.task.inputs {
            match self.values.get(key) {
                Some(Held::Ready(bytes)) => inputs.push(bytes.clone()),
                Some(Held::Failed(failure)) => {
                    let failure = failure.clone();
                    return self.complete(id, unfinished, Err(failure));
                }
                // Released by the client while the task waited for it.
                _ => {
                    let failure = Failure::new(
                        FailureKind::Aborted,
                        format!("input {key:?} was released before the task could run"),
                    );
                    return self.complete(id, unfinished, Err(failure));
                }
            }
        }
        // What came along with the task is its own: the task has what it needs of it now.
        for key in std::mem::take(&mut unfinished.transient) {
            self.release(key);
        }
        if unfinished.task.kind.is_built_in() {
            let task = &unfinished.task;
            let made = builtin::make(task.kind, &inputs, &task.params, task.outputs.len());
            return self.complete(id, unfinished, made);
        }
        let input = concat(&inputs);
        self.actions.push_back(Action::Run(Run {
            task: id,
            kind: unfinished.task.kind,
            // Nothing reads the name again once the task runs.
            function: std::mem::take(&mut unfinished.task.function),
            params: unfinished.task.params.clone(),
            input,
        }));
        self.running += 1;
        self.tasks.insert(id, unfinished);
    }

    /// Keeps a finished task's outputs (or its failure), answers its request and wakes what
    /// waited for its outputs.
    fn complete(
        &mut self,
        id: TaskId,
        unfinished: Unfinished,
        outcome: Result<TaskOutput, Failure>,
    ) {
        let Unfinished {
            request,
            task,
            transient,
            ..
        } = unfinished;
        // A task that ends without starting (an input failed, a quota) frees what came with it.
        for key in transient {
            self.release(key);
        }
        let outcome = outcome.and_then(|output| self.check_output(&task, output));
        let response = match &outcome {
            Ok(output) => Response::Done {
                sizes: output.values.iter().map(|v| v.len() as u64).collect(),
                verdict: output.verdict,
                values: if task.reply_with_value {
                    let inline = self.limits.inline;
                    output
                        .values
                        .iter()
                        .map(|v| (v.len() <= inline).then(|| v.clone()))
                        .collect()
                } else {
                    Vec::new()
                },
            },
            Err(failure) => Response::Failed(failure.clone()),
        };
        for (index, key) in task.outputs.iter().enumerate() {
            match self.values.get(key) {
                Some(Held::Pending(t)) if *t == id => {}
                // Another task makes this key now (the client reused it): its waiters wait
                // for that task.
                Some(Held::Pending(_)) => continue,
                // Released meanwhile (and perhaps scattered again): nobody wants this output,
                // but what waited for the key hears what it holds now, or that it is gone.
                _ => {
                    self.to_wake.push_back(*key);
                    continue;
                }
            }
            let held = match &outcome {
                Ok(output) => match output.values.get(index) {
                    Some(bytes) => Held::Ready(bytes.clone()),
                    None => Held::Failed(Failure::new(FailureKind::Encode, "missing output")),
                },
                Err(failure) => Held::Failed(failure.clone()),
            };
            self.store(*key, held);
            self.to_wake.push_back(*key);
        }
        self.send(request, response);
    }

    /// Checks what a function made against the task's shape and the value limit.
    fn check_output(&self, task: &Task, output: TaskOutput) -> Result<TaskOutput, Failure> {
        if output.values.len() != task.outputs.len() {
            return Err(Failure::new(
                FailureKind::Encode,
                format!(
                    "the task made {} values for {} outputs",
                    output.values.len(),
                    task.outputs.len()
                ),
            ));
        }
        if task.kind == TaskKind::Retain && output.verdict.is_none() {
            return Err(Failure::new(
                FailureKind::Encode,
                "a retain task gave no verdict",
            ));
        }
        let max = self.limits.max_value;
        let made: u64 = output.values.iter().map(|v| v.len() as u64).sum();
        if self.bytes_committed().saturating_add(made) > self.limits.max_bytes_held {
            return Err(Failure::new(
                FailureKind::Overloaded,
                format!(
                    "keeping the task's {made} bytes would take this client over its {} bytes on the worker",
                    self.limits.max_bytes_held
                ),
            ));
        }
        if let Some(big) = output.values.iter().find(|v| v.len() as u64 > max) {
            return Err(Failure::new(
                FailureKind::ValueTooLarge,
                format!(
                    "the task made a value of {} bytes, over the worker's limit of {max} bytes",
                    big.len()
                ),
            ));
        }
        Ok(output)
    }

    /// Tells the tasks and fetches waiting for `key` that it is made (or failed, or gone).
    fn wake(&mut self, key: Key) {
        let Some(waiters) = self.waiting.remove(&key) else {
            return;
        };
        for waiter in waiters {
            match waiter {
                Waiter::Fetch(id) => match self.values.get(&key) {
                    Some(Held::Ready(bytes)) => {
                        let bytes = bytes.clone();
                        self.send_value(id, bytes);
                    }
                    Some(Held::Failed(failure)) => {
                        let failure = failure.clone();
                        self.send(id, Response::Failed(failure));
                    }
                    _ => self.send(
                        id,
                        Response::Rejected(format!("{key:?} was released before it was made")),
                    ),
                },
                Waiter::Grant(token) => match self.values.get(&key) {
                    Some(Held::Ready(bytes)) => {
                        let bytes = bytes.clone();
                        self.offer(key, token, Ok(bytes));
                    }
                    Some(Held::Failed(failure)) => {
                        let failure = failure.clone();
                        self.offer(key, token, Err(failure));
                    }
                    _ => self.offer_gone(key, token),
                },
                Waiter::Task(task) => {
                    let ready = match self.tasks.get_mut(&task) {
                        Some(unfinished) => {
                            unfinished.missing = unfinished.missing.saturating_sub(1);
                            unfinished.missing == 0
                        }
                        None => false,
                    };
                    if ready {
                        if let Some(unfinished) = self.tasks.remove(&task) {
                            self.start(task, unfinished);
                        }
                    }
                }
            }
        }
    }

    fn send(&mut self, id: u64, response: Response) {
        self.actions.push_back(Action::Send(Reply { id, response }));
    }

    /// Sends a value, in pieces if it is larger than one piece.
    fn send_value(&mut self, id: u64, bytes: Bytes) {
        let Some(cut) = pieces(&bytes, self.limits.piece) else {
            return self.send(id, Response::Value(bytes));
        };
        let total = bytes.len() as u64;
        for (offset, chunk) in cut {
            let part = Response::ValuePart {
                total,
                offset,
                chunk,
            };
            self.send(id, part);
        }
    }
}

/// The inputs of a task as one encoding: a tuple's postcard encoding is its fields' encodings
/// back to back.
fn concat(values: &[Bytes]) -> Bytes {
    match values {
        [single] => single.clone(),
        _ => Bytes::from(values.concat()),
    }
}
