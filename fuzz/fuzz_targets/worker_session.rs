//! A worker's side of one connection (`WorkerSession`) driven by an arbitrary client and an
//! arbitrary task runner, checked against a small model of what the client can know.
//!
//! The fuzz input is decoded (with `arbitrary`) into a sequence of operations: client messages
//! (scatters, scatters in pieces, releases, submits and fetches, on 16 keys so that they collide
//! often), reports of finished tasks (for the tasks the session asked to run, with good or
//! badly shaped outputs, or failures) and reports for bogus task ids. Small limits (values of
//! 4096 bytes, pieces of 64, inline results of 32, quotas of 10 000 bytes held and 6 tasks
//! unfinished) make every size rule come into play. A message that is a protocol violation ends
//! the connection: the driver checks the violation was due, and starts a fresh session.
//!
//! Checked after every step (a panic is a finding):
//! - `handle` returns a violation exactly when the model says the message breaks the protocol,
//!   and a violation changes nothing (no action, the same counters, the same keys in use);
//! - every reply answers a request the driver sent and the session accepted, exactly once (a
//!   value in pieces: pieces of at most `piece` bytes, in order, adding up to the announced
//!   total, which is above one piece and within `max_value`), with a response of the right sort;
//! - a task's `Done` carries what the runner reported (sizes, verdict, inline values up to
//!   `inline`); a task the runner reported as failed, or with a badly shaped result, or with a
//!   result over the value limit or the quota of bytes, fails with the right kind of failure;
//! - a value (scattered, or announced by its first piece, counted at its whole length while
//!   its pieces arrive) that would take the client over its quota of bytes is kept as an
//!   `Overloaded` failure (its pieces are only counted),
//!   and a task past the quota of unfinished tasks fails `Overloaded`; so do new values and
//!   tasks while the worker is paused (`pause(Some(reason))`), with that reason;
//! - a piece of a scattered value that does not start where the pieces before it end is a
//!   violation, and the pieces of a fetched value carry their offsets;
//! - a fetch is answered with the value under its key (or its failure), and is only
//!   `Rejected` if the key was released after the fetch came;
//! - a task is run (or fails for want of an input) only once its inputs are made: its input is
//!   the concatenation of its inputs' bytes, and it fails only with the failure of an input,
//!   unless one of its inputs was released after it came;
//! - a built-in task is never run: a zip is its inputs' bytes back to back, a `Collect` the
//!   varint of its number of inputs and then their bytes, a `Split` its input cut at the offsets
//!   of its parameters, or a `Decode` failure when they do not fit the input (a varint length
//!   equal to the number of outputs, offsets from its end to the input's end, never backwards);
//! - `values_held()` is the number of keys in use (at most 16), `bytes_held()` the bytes of the
//!   values kept and of the pieces arriving (at most 16 × `max_value`, and within the quota
//!   `max_bytes_held`), `unfinished_tasks()` the number of submits not answered,
//!   `running_tasks()` the number of runs not reported;
//! - the actions of one step are bounded by what the requests in flight can produce;
//! - a report for a task the session does not know changes nothing;
//! - at the end, once every task the session asked to run has been reported (the reports may
//!   start more tasks), no task is unfinished and every accepted request has been answered.
//!
//! Findings already reported can be let through while looking for others, by naming them in
//! the environment variable `RIVULET_FUZZ_KNOWN` (comma-separated); by default every check is
//! on. Names: `leftover-piece` (a refused first piece of a value leaves its key in use),
//! `reused-key` (a task whose key was released and used again wakes the new key's waiters),
//! `pieces-over-quota` (values arriving in pieces take `bytes_held()` past `max_bytes_held`).
//! `RIVULET_FUZZ_TRACE=1` prints the operations as they run.

#![no_main]

use std::collections::{HashMap, HashSet};

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rivulet::remote::proto::{
    Action, ClientMessage, Failure, FailureKind, Key, Limits, Reply, Request, Response, Task,
    TaskId, TaskKind, TaskOutput, WorkerSession,
};

/// Whether a finding already reported is to be let through (see the module docs).
fn known(finding: &str) -> bool {
    static KNOWN: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    KNOWN
        .get_or_init(|| {
            std::env::var("RIVULET_FUZZ_KNOWN")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_string())
                .collect()
        })
        .iter()
        .any(|k| k == finding)
}

const KEYS: usize = 16;
const LIMITS: Limits = Limits {
    max_value: 4096,
    piece: 64,
    inline: 32,
    // Quotas small enough to be reached: a few values, a few tasks.
    max_bytes_held: 10_000,
    max_tasks: 6,
    max_unread: rivulet::remote::proto::DEFAULT_MAX_UNREAD,
};
/// The one function the worker knows.
const FUNCTION: &str = "f";
/// The most pieces one value can travel in.
const MAX_PARTS: usize = (LIMITS.max_value as usize).div_ceil(LIMITS.piece);

/// A length, mostly small, sometimes anywhere up to past the value limit, sometimes right at it.
#[derive(Debug, Clone, Copy)]
struct Len(usize);

impl<'a> Arbitrary<'a> for Len {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let x = usize::from(u16::arbitrary(u)?);
        let max = LIMITS.max_value as usize;
        Ok(Len(match x >> 14 {
            0 | 1 => x % 40,
            2 => x % (max + 100),
            _ => max - 2 + x % 5,
        }))
    }
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Kind {
    Map,
    Retain,
    Zip,
    Accumulate,
    Collect,
    Split,
}

impl Kind {
    fn kind(self) -> TaskKind {
        match self {
            Kind::Map => TaskKind::Map,
            Kind::Retain => TaskKind::Retain,
            Kind::Zip => TaskKind::Zip,
            Kind::Accumulate => TaskKind::Accumulate,
            Kind::Collect => TaskKind::Collect,
            Kind::Split => TaskKind::Split,
        }
    }
}

/// How many inputs and outputs a task of this kind has; `n` is the number a batch (`Collect`)
/// has inputs, or a `Split` outputs.
fn shape(kind: TaskKind, n: usize) -> (usize, usize) {
    match kind {
        TaskKind::Map => (1, 1),
        TaskKind::Retain => (1, 0),
        TaskKind::Zip => (2, 1),
        TaskKind::Accumulate => (2, 2),
        TaskKind::Collect => (n, 1),
        TaskKind::Split => (1, n),
    }
}

/// The number of a task's inputs or outputs that its kind leaves free.
fn arity(task: &Task) -> usize {
    match task.kind {
        TaskKind::Collect => task.inputs.len(),
        _ => task.outputs.len(),
    }
}

/// postcard's varint of a length.
fn varint(n: u64) -> Vec<u8> {
    postcard::to_allocvec(&n).expect("a u64 encodes")
}

/// What a built-in task makes of its inputs' bytes (`None` where one is not known): their
/// sizes, their bytes where known, or the kind of its failure.
enum Made {
    Values(Vec<u64>, Option<Vec<Bytes>>),
    Fails(FailureKind),
    /// A split of bytes the model does not know: anything whose sizes fit.
    Unknown,
}

/// The model of a split: `input` cut at the offsets encoded in `params` into `outputs` values.
fn split_model(input: &[u8], params: &[u8], outputs: usize) -> Made {
    let Ok(cuts) = postcard::from_bytes::<Vec<u64>>(params) else {
        return Made::Fails(FailureKind::Decode);
    };
    let Ok((len, rest)) = postcard::take_from_bytes::<u64>(input) else {
        return Made::Fails(FailureKind::Decode);
    };
    let prefix = (input.len() - rest.len()) as u64;
    let fits = len == outputs as u64
        && cuts.len() == outputs + 1
        && cuts[0] == prefix
        && cuts[outputs] == input.len() as u64
        && cuts.windows(2).all(|w| w[0] <= w[1]);
    if !fits {
        return Made::Fails(FailureKind::Decode);
    }
    let values: Vec<Bytes> = cuts
        .windows(2)
        .map(|w| Bytes::copy_from_slice(&input[w[0] as usize..w[1] as usize]))
        .collect();
    Made::Values(
        values.iter().map(|v| v.len() as u64).collect(),
        Some(values),
    )
}

#[derive(Debug, Arbitrary)]
enum Outcome {
    /// A result of the right shape (it may still hold a value over the limit).
    Good {
        lens: Vec<Len>,
        fill: u8,
        verdict: bool,
    },
    /// Exactly these values and this verdict, whatever the task's shape.
    Shaped {
        lens: Vec<Len>,
        fill: u8,
        verdict: Option<bool>,
    },
    /// The function failed.
    Fail { kind: u8, message: u8 },
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// `vacant`: on a key not in use (per the model), else on `key`.
    Scatter {
        key: u8,
        vacant: bool,
        len: Len,
        fill: u8,
    },
    /// `total: None`: the next piece of the value arriving under `key` (or the first of one of
    /// 200 bytes), fitting; otherwise exactly this total and a chunk of `len` bytes. `offset:
    /// None`: where the pieces so far end, otherwise this offset.
    Part {
        key: u8,
        total: Option<Len>,
        offset: Option<u16>,
        len: u8,
        fill: u8,
    },
    /// The worker pauses (`Some`: short of memory, with this reason) or resumes (`None`).
    Pause(Option<u8>),
    Release(Vec<u8>),
    /// `mode` bit 0: the right number of inputs and outputs; bit 1: inputs among the keys in
    /// use; bit 2: outputs among the keys not in use.
    Submit {
        kind: Kind,
        known: bool,
        inputs: Vec<u8>,
        outputs: Vec<u8>,
        mode: u8,
        reply_with_value: bool,
        /// A split's offsets: `None`, offsets that fit the input the model knows (evenly
        /// spaced); otherwise these.
        cuts: Option<Vec<u16>>,
    },
    /// A submit (as above) whose inputs at the positions set in `along` come with it
    /// (`SubmitWith`), each under a vacant key unless `taken`; `stray`: one more value along, under
    /// a key the task does not take.
    SubmitWith {
        kind: Kind,
        known: bool,
        inputs: Vec<u8>,
        outputs: Vec<u8>,
        mode: u8,
        reply_with_value: bool,
        along: u8,
        taken: bool,
        len: Len,
        fill: u8,
        stray: Option<u8>,
    },
    /// `used`: on a key in use (per the model), else on `key`.
    Fetch {
        key: u8,
        used: bool,
    },
    /// Reports one of the tasks the session asked to run.
    Finish {
        which: u8,
        outcome: Outcome,
    },
    /// Reports a task the session does not know: one already reported, or one never asked for.
    Bogus {
        which: u8,
        outcome: Outcome,
    },
}

/// What `Op::Submit` and `Op::SubmitWith` say of the task itself.
struct TaskShape {
    kind: Kind,
    known: bool,
    inputs: Vec<u8>,
    outputs: Vec<u8>,
    mode: u8,
    reply_with_value: bool,
}

/// What `Op::SubmitWith` says of the values that come along.
struct Along {
    mask: u8,
    taken: bool,
    len: Len,
    fill: u8,
    stray: Option<u8>,
}

fn bytes_of(len: usize, fill: u8) -> Bytes {
    (0..len).map(|i| fill.wrapping_add(i as u8)).collect()
}

fn failure_kind(k: u8) -> FailureKind {
    // Never `Aborted`: the session alone says that (for an input released before its task ran).
    match k % 5 {
        0 => FailureKind::Panicked,
        1 => FailureKind::Returned,
        2 => FailureKind::Decode,
        3 => FailureKind::Encode,
        _ => FailureKind::ValueTooLarge,
    }
}

/// The failure the model expects where the session refuses a value over the quota of bytes
/// (its message is the session's to word).
fn overloaded() -> Failure {
    Failure::new(FailureKind::Overloaded, "")
}

/// Whether `actual` is the failure the model expects.
fn same_failure(actual: &Failure, model: &Failure) -> bool {
    if model.kind == FailureKind::Overloaded && model.message.is_empty() {
        actual.kind == FailureKind::Overloaded
    } else {
        actual == model
    }
}

/// What the model knows about a key.
#[derive(Debug, Clone)]
enum Slot {
    Vacant,
    Assembling {
        total: u64,
        got: Vec<u8>,
        /// Set when the first piece was past the quota (or came while paused): the value will
        /// be this failure, and its pieces are only counted.
        refused: Option<Failure>,
    },
    /// A value, with its bytes when the model knows them.
    Ready {
        size: u64,
        content: Option<Bytes>,
    },
    Failed(Failure),
    /// To be made by the task of this request.
    Pending {
        request: u64,
    },
}

#[derive(Debug)]
enum Req {
    Submit {
        task: Task,
        /// The task the session asked to run for it, if it did.
        run: Option<TaskId>,
        /// What the driver reported for that run.
        given: Option<Result<TaskOutput, Failure>>,
        /// An input was released after the submit.
        released: bool,
        /// Why it fails at once, if it does: the failure of the first of its inputs that had
        /// failed when it came, or the worker's pause, or the quota of tasks.
        refused: Option<Failure>,
        /// Inputs that came along with it (`SubmitWith`): the worker's for this task alone,
        /// freed once it starts (it is run or made) or ends without starting.
        transient: Vec<Key>,
    },
    Fetch {
        key: Key,
        /// The key was released after the fetch.
        released: bool,
        /// The pieces of a value so far: total and bytes.
        parts: Option<(u64, Vec<u8>)>,
    },
}

struct Driver {
    session: WorkerSession,
    slots: Vec<Slot>,
    next_id: u64,
    /// Requests accepted by this session and not answered.
    requests: HashMap<u64, Req>,
    /// Every request id ever answered (ids are unique across sessions).
    answered: HashSet<u64>,
    /// Tasks the session asked to run and the driver has not reported, with their request.
    runs: Vec<(TaskId, u64)>,
    /// Tasks of this session already reported.
    reported: Vec<TaskId>,
    /// Every task id this session asked to run.
    issued: HashSet<TaskId>,
    sessions: usize,
    /// The reason the worker is paused, if it is.
    paused: Option<String>,
    /// While a built-in task's reply is judged: the inputs that came along with it, which the
    /// session freed when it started the task (before keeping what it made).
    freeing: Vec<Key>,
}

impl Driver {
    fn new() -> Self {
        Driver {
            session: WorkerSession::new(LIMITS),
            slots: vec![Slot::Vacant; KEYS],
            next_id: 0,
            requests: HashMap::new(),
            answered: HashSet::new(),
            runs: Vec::new(),
            reported: Vec::new(),
            issued: HashSet::new(),
            sessions: 1,
            paused: None,
            freeing: Vec::new(),
        }
    }

    fn fresh_session(&mut self) {
        self.session = WorkerSession::new(LIMITS);
        self.slots = vec![Slot::Vacant; KEYS];
        self.requests.clear();
        self.runs.clear();
        self.reported.clear();
        self.issued.clear();
        self.sessions += 1;
        self.paused = None;
    }

    /// The failure of a value or task refused while the worker is paused.
    fn paused(&self) -> Option<Failure> {
        let reason = self.paused.as_ref()?;
        Some(Failure::new(FailureKind::Overloaded, reason.clone()))
    }

    fn slot(&self, key: Key) -> &Slot {
        &self.slots[key.0 as usize]
    }

    fn slot_mut(&mut self, key: Key) -> &mut Slot {
        &mut self.slots[key.0 as usize]
    }

    fn used(&self, key: Key) -> bool {
        matches!(
            self.slot(key),
            Slot::Ready { .. } | Slot::Failed(_) | Slot::Pending { .. }
        )
    }

    fn vacant(&self, key: Key) -> bool {
        matches!(self.slot(key), Slot::Vacant)
    }

    /// The `n`th key (cycling) among those for which `pred` holds, if any.
    fn pick(&self, n: u8, pred: impl Fn(&Self, Key) -> bool) -> Option<Key> {
        let keys: Vec<Key> = (0..KEYS as u64)
            .map(Key)
            .filter(|&k| pred(self, k))
            .collect();
        (!keys.is_empty()).then(|| keys[usize::from(n) % keys.len()])
    }

    fn outstanding_submits(&self) -> usize {
        self.requests
            .values()
            .filter(|r| matches!(r, Req::Submit { .. }))
            .count()
    }

    // ---- the model of the protocol's rules -------------------------------------------------

    /// Whether the session must refuse this message as a violation.
    fn breaks_protocol(&self, message: &ClientMessage) -> bool {
        match message {
            // Worker-to-worker grants and pulls are tested in `tests/proto_session.rs`; the
            // model does not take them.
            ClientMessage::Grant { .. }
            | ClientMessage::Request {
                request: Request::Pull { .. },
                ..
            } => unreachable!("the fuzzer makes no grants or pulls"),
            ClientMessage::Scatter { key, value } => {
                !self.vacant(*key) || value.len() as u64 > LIMITS.max_value
            }
            ClientMessage::ScatterPart {
                key,
                total,
                offset,
                chunk,
            } => match self.slot(*key) {
                Slot::Assembling { total: t, got, .. } => {
                    t != total
                        || *offset != got.len() as u64
                        || (got.len() + chunk.len()) as u64 > *t
                }
                Slot::Vacant => {
                    *total > LIMITS.max_value || *offset != 0 || chunk.len() as u64 > *total
                }
                _ => true,
            },
            ClientMessage::Release(_) => false,
            // Each input along must be one of the task's, once, on a vacant key that is not an
            // output, within the value limit; then the task as a submit, those keys in use.
            ClientMessage::Request {
                request: Request::SubmitWith { task, inputs },
                ..
            } => {
                inputs.iter().enumerate().any(|(n, (key, value))| {
                    !task.inputs.contains(key)
                        || inputs[..n].iter().any(|(k, _)| k == key)
                        || !self.vacant(*key)
                        || task.outputs.contains(key)
                        || value.len() as u64 > LIMITS.max_value
                }) || self.submit_breaks(task, &inputs.iter().map(|(k, _)| *k).collect::<Vec<_>>())
            }
            ClientMessage::Request {
                request: Request::Fetch { key },
                ..
            } => !self.used(*key),
            ClientMessage::Request {
                request: Request::Submit(task),
                ..
            } => self.submit_breaks(task, &[]),
        }
    }

    /// Whether a submit of `task` breaks the protocol, with the keys `along` in use besides.
    fn submit_breaks(&self, task: &Task, along: &[Key]) -> bool {
        {
            {
                let (i, o) = shape(task.kind, arity(task));
                let outputs_clash = task
                    .outputs
                    .iter()
                    .enumerate()
                    .any(|(n, k)| task.outputs[..n].contains(k) || !self.vacant(*k));
                task.inputs.len() != i
                    || task.outputs.len() != o
                    || (!task.kind.is_built_in() && task.function != FUNCTION)
                    || task
                        .inputs
                        .iter()
                        .any(|k| !self.used(*k) && !along.contains(k))
                    || outputs_clash
            }
        }
    }

    /// Takes an accepted message into the model.
    fn accept(&mut self, message: ClientMessage) {
        match message {
            ClientMessage::Grant { .. }
            | ClientMessage::Request {
                request: Request::Pull { .. },
                ..
            } => unreachable!("the fuzzer makes no grants or pulls"),
            ClientMessage::Scatter { key, value } => {
                let size = value.len() as u64;
                *self.slot_mut(key) = if let Some(paused) = self.paused() {
                    Slot::Failed(paused)
                } else if self.committed_expected() + size > LIMITS.max_bytes_held {
                    Slot::Failed(overloaded())
                } else {
                    Slot::Ready {
                        size,
                        content: Some(value),
                    }
                };
            }
            ClientMessage::ScatterPart {
                key, total, chunk, ..
            } => {
                let (mut got, refused) = match std::mem::replace(self.slot_mut(key), Slot::Vacant) {
                    Slot::Assembling { got, refused, .. } => (got, refused),
                    // A first piece: refused as a whole when the value's announced length
                    // would take the client past its quota (everything else, arriving
                    // values at their whole length, counts; the slot is vacant meanwhile).
                    _ => {
                        let refused = self.paused().or_else(|| {
                            (self.committed_expected() + total > LIMITS.max_bytes_held)
                                .then(overloaded)
                        });
                        (Vec::new(), refused)
                    }
                };
                got.extend_from_slice(&chunk);
                let others = self.committed_expected();
                let paused = self.paused();
                *self.slot_mut(key) = if got.len() as u64 == total {
                    if let Some(refused) = refused {
                        Slot::Failed(refused)
                    } else if let Some(paused) = paused {
                        Slot::Failed(paused)
                    } else if others + total > LIMITS.max_bytes_held {
                        Slot::Failed(overloaded())
                    } else {
                        Slot::Ready {
                            size: total,
                            content: Some(Bytes::from(got)),
                        }
                    }
                } else {
                    Slot::Assembling {
                        total,
                        got,
                        refused,
                    }
                };
            }
            ClientMessage::Release(keys) => {
                for key in keys {
                    *self.slot_mut(key) = Slot::Vacant;
                    for req in self.requests.values_mut() {
                        match req {
                            Req::Fetch {
                                key: k, released, ..
                            } if *k == key => *released = true,
                            Req::Submit { task, released, .. } if task.inputs.contains(&key) => {
                                *released = true
                            }
                            _ => {}
                        }
                    }
                }
            }
            // The inputs along are kept as scatters would be, then the task is a submit.
            ClientMessage::Request {
                id,
                request: Request::SubmitWith { task, inputs },
            } => {
                let transient: Vec<Key> = inputs.iter().map(|(key, _)| *key).collect();
                for (key, value) in inputs {
                    self.accept(ClientMessage::Scatter { key, value });
                }
                self.accept(ClientMessage::Request {
                    id,
                    request: Request::Submit(task),
                });
                if let Some(Req::Submit {
                    transient: along, ..
                }) = self.requests.get_mut(&id)
                {
                    *along = transient;
                }
            }
            ClientMessage::Request {
                id,
                request: Request::Fetch { key },
            } => {
                self.requests.insert(
                    id,
                    Req::Fetch {
                        key,
                        released: false,
                        parts: None,
                    },
                );
            }
            ClientMessage::Request {
                id,
                request: Request::Submit(task),
            } => {
                // Refused at once: the failure of its first failed input, else the pause, else
                // the quota of tasks.
                let over_tasks = self.outstanding_submits() >= LIMITS.max_tasks;
                // (By position: a failed input behind a pending one waits for it.)
                let refused = task
                    .inputs
                    .iter()
                    .find_map(|key| match self.slot(*key) {
                        Slot::Ready { .. } => None,
                        Slot::Failed(f) => Some(Some(f.clone())),
                        _ => Some(None),
                    })
                    .flatten()
                    .or_else(|| self.paused())
                    .or_else(|| over_tasks.then(overloaded));
                for key in &task.outputs {
                    *self.slot_mut(*key) = Slot::Pending { request: id };
                }
                self.requests.insert(
                    id,
                    Req::Submit {
                        task,
                        run: None,
                        given: None,
                        released: false,
                        refused,
                        transient: Vec::new(),
                    },
                );
            }
        }
    }

    fn bytes_expected(&self) -> u64 {
        self.slots
            .iter()
            .map(|s| match s {
                Slot::Ready { size, .. } => *size,
                Slot::Assembling {
                    got, refused: None, ..
                } => got.len() as u64,
                _ => 0,
            })
            .sum()
    }

    /// The bytes counted against the quota: values kept, and values arriving at their whole
    /// announced length (unless refused).
    fn committed_expected(&self) -> u64 {
        self.slots
            .iter()
            .enumerate()
            .filter(|(key, _)| !self.freeing.contains(&Key(*key as u64)))
            .map(|(_, s)| match s {
                Slot::Ready { size, .. } => *size,
                Slot::Assembling {
                    total,
                    refused: None,
                    ..
                } => *total,
                _ => 0,
            })
            .sum()
    }

    /// The concatenation of the inputs' bytes, if the model knows them all; panics if an input
    /// is not made (its task must not have started).
    fn inputs_made(&self, task: &Task, what: &str) -> Option<Vec<u8>> {
        let mut all = Some(Vec::new());
        for key in &task.inputs {
            match self.slot(*key) {
                Slot::Ready { content, .. } => match (content, all.as_mut()) {
                    (Some(c), Some(v)) => v.extend_from_slice(c),
                    _ => all = None,
                },
                other => panic!("{what}: input {key:?} is {other:?}, not made"),
            }
        }
        all
    }

    // ---- checks of what the session does ---------------------------------------------------

    fn check_counters(&self) {
        let held = self.session.values_held();
        let used = (0..KEYS as u64).filter(|&k| self.used(Key(k))).count();
        assert_eq!(held, used, "values_held() is not the number of keys in use");
        assert!(held <= KEYS);
        let bytes = self.session.bytes_held();
        assert!(
            bytes <= KEYS as u64 * LIMITS.max_value,
            "bytes_held() = {bytes}"
        );
        assert_eq!(bytes, self.bytes_expected(), "bytes_held() is off");
        assert!(
            bytes <= LIMITS.max_bytes_held,
            "bytes_held() = {bytes}, over the quota of {}",
            LIMITS.max_bytes_held
        );
        assert_eq!(
            self.session.unfinished_tasks(),
            self.outstanding_submits(),
            "unfinished_tasks() is not the number of submits not answered"
        );
        assert_eq!(
            self.session.running_tasks(),
            self.runs.len(),
            "running_tasks() is not the number of runs not reported"
        );
    }

    /// Drains the session's actions after one step and checks each.
    fn drain(&mut self, in_flight_before: usize) {
        let mut actions = Vec::new();
        while let Some(action) = self.session.poll_action() {
            actions.push(action);
            // Each request in flight is answered at most once (a value in at most MAX_PARTS
            // pieces) and run at most once.
            assert!(
                actions.len() <= in_flight_before * (MAX_PARTS + 1) + 1,
                "{} actions from one step with {in_flight_before} requests in flight",
                actions.len()
            );
        }
        for action in actions {
            match action {
                Action::Run(run) => self.on_run(run),
                Action::Send(reply) => self.on_reply(reply),
                other => panic!("{other:?} without a grant or a pull"),
            }
        }
        self.check_counters();
    }

    fn on_run(&mut self, run: rivulet::remote::proto::Run) {
        let request = u64::from_le_bytes(
            run.params[..]
                .try_into()
                .expect("a run's params are its task's params"),
        );
        assert!(
            self.issued.insert(run.task),
            "{:?} asked to run twice",
            run.task
        );
        let Some(Req::Submit {
            task,
            run: asked,
            refused,
            ..
        }) = self.requests.get(&request)
        else {
            panic!("a run for request {request}, which is not a submit in flight");
        };
        assert_eq!(
            refused, &None,
            "request {request} run though it was to be refused"
        );
        assert!(asked.is_none(), "request {request} run twice");
        assert!(!task.kind.is_built_in(), "a built-in task is made, not run");
        assert_eq!(run.kind, task.kind);
        assert_eq!(run.function, task.function);
        // Its inputs are made (an input released and scattered again counts: the task runs on
        // what is there now), and it runs on their bytes.
        if let Some(input) = self.inputs_made(task, "a task run") {
            assert_eq!(&run.input[..], &input[..], "a task run on the wrong input");
        }
        if let Some(Req::Submit { run: asked, .. }) = self.requests.get_mut(&request) {
            *asked = Some(run.task);
        }
        self.runs.push((run.task, request));
        self.free_transient(request);
    }

    /// The task of `request` has started (or ended without starting): what came along with
    /// it is freed.
    fn free_transient(&mut self, request: u64) {
        let along = match self.requests.get_mut(&request) {
            Some(Req::Submit { transient, .. }) => std::mem::take(transient),
            _ => return,
        };
        for key in along {
            *self.slot_mut(key) = Slot::Vacant;
        }
    }

    fn on_reply(&mut self, reply: Reply) {
        let Reply { id, response } = reply;
        assert!(!self.answered.contains(&id), "request {id} answered twice");
        let Some(req) = self.requests.get_mut(&id) else {
            panic!("a reply to request {id}, which the driver never sent (or was refused)");
        };
        match req {
            Req::Fetch { parts, .. } => {
                let value = match response {
                    Response::ValuePart {
                        total,
                        offset,
                        chunk,
                    } => {
                        assert!(
                            total > LIMITS.piece as u64 && total <= LIMITS.max_value,
                            "a value of {total} bytes sent in pieces"
                        );
                        assert!(!chunk.is_empty() && chunk.len() <= LIMITS.piece);
                        let (t, got) = parts.get_or_insert_with(|| (total, Vec::new()));
                        assert_eq!(
                            *t, total,
                            "the pieces of one reply announce different totals"
                        );
                        assert_eq!(offset, got.len() as u64, "a piece's offset");
                        assert!(got.len() % LIMITS.piece == 0, "a piece after a short piece");
                        got.extend_from_slice(&chunk);
                        assert!(got.len() as u64 <= total, "pieces past the total");
                        if (got.len() as u64) < total {
                            return;
                        }
                        Ok(Bytes::from(std::mem::take(got)))
                    }
                    Response::Value(bytes) => {
                        assert!(parts.is_none(), "a whole value in the middle of pieces");
                        assert!(bytes.len() <= LIMITS.piece, "a long value not in pieces");
                        Ok(bytes)
                    }
                    Response::Failed(failure) => {
                        assert!(parts.is_none());
                        Err(Some(failure))
                    }
                    Response::Rejected(_) => {
                        assert!(parts.is_none());
                        Err(None)
                    }
                    Response::Done { .. } => panic!("a fetch answered with Done"),
                };
                self.fetch_answered(id, value);
            }
            Req::Submit { transient, .. } => {
                let along = std::mem::take(transient);
                self.freeing = along.clone();
                match response {
                    Response::Done {
                        sizes,
                        verdict,
                        values,
                    } => self.task_done(id, sizes, verdict, values),
                    Response::Failed(failure) => self.task_failed(id, failure),
                    other => panic!("a submit answered with {other:?}"),
                }
                self.freeing.clear();
                for key in along {
                    *self.slot_mut(key) = Slot::Vacant;
                }
            }
        }
    }

    fn fetch_answered(&mut self, id: u64, value: Result<Bytes, Option<Failure>>) {
        let Some(Req::Fetch { key, released, .. }) = self.requests.remove(&id) else {
            unreachable!()
        };
        self.answered.insert(id);
        if released {
            // Released after the fetch came: anything the key holds by then, or a rejection.
            if let Ok(bytes) = value {
                assert!(bytes.len() as u64 <= LIMITS.max_value);
            }
            return;
        }
        match (value, self.slot(key)) {
            (Ok(bytes), Slot::Ready { size, content }) => {
                assert_eq!(
                    bytes.len() as u64,
                    *size,
                    "fetch {id} of {key:?}: wrong size"
                );
                if let Some(content) = content {
                    assert_eq!(&bytes, content, "fetch {id} of {key:?}: wrong bytes");
                }
            }
            (Err(Some(failure)), Slot::Failed(f)) => assert!(
                same_failure(&failure, f),
                "fetch {id} of {key:?}: {failure:?}, expected {f:?}"
            ),
            (Err(None), Slot::Pending { .. }) if known("reused-key") => {}
            (Err(None), slot) => panic!(
                "fetch {id} of {key:?} rejected, though the key was not released since \
                 (it is {slot:?})"
            ),
            (answer, slot) => {
                panic!("fetch {id} of {key:?} answered {answer:?} while the key is {slot:?}")
            }
        }
    }

    /// How the session must take a task's result: `Ok` to keep it, or the kind of failure.
    /// `made` is the bytes it made; checked in order: its shape, the quota of bytes (with
    /// what is held now), the value limit.
    fn judge(&self, task: &Task, values: &[u64], verdict: Option<bool>) -> Result<(), FailureKind> {
        if values.len() != task.outputs.len()
            || (task.kind == TaskKind::Retain && verdict.is_none())
        {
            return Err(FailureKind::Encode);
        }
        let made: u64 = values.iter().sum();
        if self.committed_expected() + made > LIMITS.max_bytes_held {
            return Err(FailureKind::Overloaded);
        }
        if values.iter().any(|&v| v > LIMITS.max_value) {
            return Err(FailureKind::ValueTooLarge);
        }
        Ok(())
    }

    /// What a built-in task makes of its inputs, all made (panics if one is not, or has
    /// failed), before the session checks the result against the quota and value limit.
    fn built_in(&self, task: &Task, what: &str) -> Made {
        let sizes: Vec<u64> = task
            .inputs
            .iter()
            .map(|key| match self.slot(*key) {
                Slot::Ready { size, .. } => *size,
                other => panic!("{what}: input {key:?} is {other:?}, not made"),
            })
            .collect();
        let content = self.inputs_made(task, what);
        match task.kind {
            TaskKind::Zip => Made::Values(
                vec![sizes.iter().sum()],
                content.map(|c| vec![Bytes::from(c)]),
            ),
            TaskKind::Collect => {
                let mut head = varint(task.inputs.len() as u64);
                let size = head.len() as u64 + sizes.iter().sum::<u64>();
                Made::Values(
                    vec![size],
                    content.map(|c| {
                        head.extend_from_slice(&c);
                        vec![Bytes::from(head)]
                    }),
                )
            }
            TaskKind::Split => match content {
                Some(input) => split_model(&input, &task.params, task.outputs.len()),
                None => Made::Unknown,
            },
            other => panic!("{what}: {other:?} is not built in"),
        }
    }

    fn task_done(
        &mut self,
        id: u64,
        sizes: Vec<u64>,
        verdict: Option<bool>,
        values: Vec<Option<Bytes>>,
    ) {
        let Some(Req::Submit {
            task,
            run,
            given,
            released,
            refused,
            ..
        }) = self.requests.remove(&id)
        else {
            unreachable!()
        };
        self.answered.insert(id);
        assert_eq!(refused, None, "task {id} done though it was to be refused");
        assert_eq!(sizes.len(), task.outputs.len(), "Done for {id}: sizes");
        assert!(sizes.iter().all(|&s| s <= LIMITS.max_value));
        // What the outputs are, where the model can tell.
        let made: Vec<Option<Bytes>> = match (task.kind.is_built_in(), run) {
            (true, None) => {
                assert_eq!(verdict, None);
                if released {
                    vec![None; task.outputs.len()]
                } else {
                    match self.built_in(&task, "a built-in task made") {
                        Made::Values(expected, content) => {
                            assert_eq!(sizes, expected, "{:?} {id}: sizes", task.kind);
                            assert_eq!(
                                self.judge(&task, &expected, None),
                                Ok(()),
                                "{:?} {id} kept",
                                task.kind
                            );
                            match content {
                                Some(values) => values.into_iter().map(Some).collect(),
                                None => vec![None; task.outputs.len()],
                            }
                        }
                        Made::Fails(kind) => {
                            panic!("{:?} {id} done, though it must fail {kind:?}", task.kind)
                        }
                        Made::Unknown => vec![None; task.outputs.len()],
                    }
                }
            }
            (true, Some(_)) => unreachable!("checked at the run"),
            (_, None) => panic!("task {id} done without being run"),
            (_, Some(t)) => match given {
                Some(Ok(output)) => {
                    let lens: Vec<u64> = output.values.iter().map(|v| v.len() as u64).collect();
                    assert_eq!(
                        self.judge(&task, &lens, output.verdict),
                        Ok(()),
                        "task {id} done with {output:?}"
                    );
                    assert_eq!(sizes, lens, "task {id}: sizes");
                    assert_eq!(verdict, output.verdict, "task {id}: verdict");
                    output.values.into_iter().map(Some).collect()
                }
                Some(Err(f)) => panic!("task {id} done though it failed with {f:?}"),
                None => panic!("task {id} done before {t:?} was reported"),
            },
        };
        if task.reply_with_value {
            assert_eq!(values.len(), sizes.len(), "task {id}: values sent back");
            for ((value, &size), made) in values.iter().zip(&sizes).zip(&made) {
                assert_eq!(
                    value.is_some(),
                    size as usize <= LIMITS.inline,
                    "task {id}: inline"
                );
                if let Some(v) = value {
                    assert_eq!(v.len() as u64, size);
                    if let Some(m) = made {
                        assert_eq!(v, m, "task {id}: value sent back");
                    }
                }
            }
        } else {
            assert!(values.is_empty(), "task {id}: values sent back unasked");
        }
        for ((key, size), content) in task.outputs.iter().zip(sizes).zip(made) {
            if matches!(self.slot(*key), Slot::Pending { request } if *request == id) {
                *self.slot_mut(*key) = Slot::Ready { size, content };
            }
        }
    }

    fn task_failed(&mut self, id: u64, failure: Failure) {
        let Some(Req::Submit {
            task,
            run,
            given,
            released,
            refused,
            ..
        }) = self.requests.remove(&id)
        else {
            unreachable!()
        };
        self.answered.insert(id);
        match (run, given) {
            (Some(_), Some(Err(f))) => assert_eq!(failure, f, "task {id}: failure"),
            (Some(_), Some(Ok(output))) => {
                let lens: Vec<u64> = output.values.iter().map(|v| v.len() as u64).collect();
                let judged = self.judge(&task, &lens, output.verdict);
                assert_eq!(
                    judged,
                    Err(failure.kind),
                    "task {id} failed ({failure:?}) with {output:?}"
                );
            }
            (Some(t), None) => panic!("task {id} failed before {t:?} was reported"),
            (None, _) => {
                if let Some(f) = refused {
                    assert!(
                        same_failure(&failure, &f),
                        "task {id}: {failure:?}, expected {f:?}"
                    );
                } else if released {
                    // An input released while it waited: it fails, one way or another.
                } else if known("reused-key")
                    && task
                        .inputs
                        .iter()
                        .any(|k| matches!(self.slot(*k), Slot::Pending { .. }))
                {
                } else {
                    // Started once its inputs were made (or failed): they are all made or
                    // failed by now, and it fails with the first failed one's failure, or (a
                    // zip) with the failure of keeping what it made.
                    let first_failed = task.inputs.iter().find_map(|key| match self.slot(*key) {
                        Slot::Failed(f) => Some(f.clone()),
                        Slot::Ready { .. } => None,
                        other => panic!(
                            "task {id} failed ({failure:?}) while its input {key:?} is \
                             {other:?}, not released since the task came"
                        ),
                    });
                    match first_failed {
                        Some(f) => assert!(
                            same_failure(&failure, &f),
                            "task {id}: {failure:?}, expected its input's {f:?}"
                        ),
                        None => {
                            assert!(
                                task.kind.is_built_in(),
                                "task {id} failed ({failure:?}) though its inputs are all made"
                            );
                            // A built-in task fails making its outputs, or keeping them.
                            match self.built_in(&task, "a built-in task failed") {
                                Made::Values(expected, _) => assert_eq!(
                                    self.judge(&task, &expected, None),
                                    Err(failure.kind),
                                    "{:?} {id} failed ({failure:?})",
                                    task.kind
                                ),
                                Made::Fails(kind) => assert_eq!(
                                    failure.kind, kind,
                                    "{:?} {id} failed ({failure:?})",
                                    task.kind
                                ),
                                Made::Unknown => {}
                            }
                        }
                    }
                }
            }
        }
        for key in &task.outputs {
            if matches!(self.slot(*key), Slot::Pending { request } if *request == id) {
                *self.slot_mut(*key) = Slot::Failed(failure.clone());
            }
        }
    }

    /// A split's parameters: `cuts` as they are, or (`None`) offsets that fit the input as the
    /// model knows it, evenly spaced over its elements' bytes (zero-length ones included).
    fn split_params(&self, inputs: &[Key], outputs: usize, cuts: Option<Vec<u16>>) -> Bytes {
        let cuts: Vec<u64> = match cuts {
            Some(cuts) => cuts.into_iter().map(u64::from).collect(),
            None => {
                let content = match inputs.first().map(|k| self.slot(*k)) {
                    Some(Slot::Ready {
                        content: Some(c), ..
                    }) => c.clone(),
                    _ => Bytes::new(),
                };
                let prefix = match postcard::take_from_bytes::<u64>(&content) {
                    Ok((_, rest)) => (content.len() - rest.len()) as u64,
                    Err(_) => 0,
                };
                let end = content.len() as u64;
                let span = end.saturating_sub(prefix);
                (0..=outputs as u64)
                    .map(|i| match outputs {
                        0 => end,
                        n => prefix + span * i / n as u64,
                    })
                    .collect()
            }
        };
        Bytes::from(postcard::to_allocvec(&cuts).expect("offsets encode"))
    }

    /// The task an `Op::Submit` or `Op::SubmitWith` asks for, and the values that come along
    /// with it (none without `along`).
    fn make_task(
        &self,
        asked: TaskShape,
        cuts: Option<Vec<u16>>,
        along: Option<Along>,
    ) -> (Task, Vec<(Key, Bytes)>) {
        let TaskShape {
            kind,
            known,
            mut inputs,
            mut outputs,
            mode,
            reply_with_value,
        } = asked;
        let kind = kind.kind();
        // A batch of up to 6 inputs, a split into up to 6 outputs.
        inputs.truncate(6);
        outputs.truncate(6);
        let free = match kind {
            TaskKind::Collect => inputs.len(),
            _ => outputs.len(),
        };
        let (ni, no) = shape(kind, free);
        if mode & 1 != 0 {
            inputs.resize(ni, 0);
            outputs.resize(no, 0);
        }
        let mut inputs: Vec<Key> = inputs
            .into_iter()
            .map(|k| {
                match mode & 2 {
                    0 => None,
                    _ => self.pick(k, Self::used),
                }
                .unwrap_or(Key(u64::from(k) % KEYS as u64))
            })
            .collect();
        let mut chosen: Vec<Key> = Vec::new();
        for k in outputs {
            let key = match mode & 4 {
                0 => None,
                _ => self.pick(k, |d, key| d.vacant(key) && !chosen.contains(&key)),
            }
            .unwrap_or(Key(u64::from(k) % KEYS as u64));
            chosen.push(key);
        }
        // The inputs that come along: fresh vacant keys (not outputs, not each other), unless
        // `taken`, when the key chosen above stays.
        let mut values: Vec<(Key, Bytes)> = Vec::new();
        if let Some(along) = along {
            for (n, input) in inputs.iter_mut().enumerate().take(8) {
                if along.mask & (1 << n) == 0 {
                    continue;
                }
                if !along.taken {
                    let picked: Vec<Key> = values.iter().map(|(k, _)| *k).collect();
                    if let Some(key) = self.pick(along.fill.wrapping_add(n as u8), |d, key| {
                        d.vacant(key) && !chosen.contains(&key) && !picked.contains(&key)
                    }) {
                        *input = key;
                    }
                }
                values.push((*input, bytes_of(along.len.0, along.fill)));
            }
            if let Some(key) = along.stray {
                values.push((Key(u64::from(key) % KEYS as u64), bytes_of(1, along.fill)));
            }
        }
        let id = self.next_id;
        let params = match kind {
            TaskKind::Split => self.split_params(&inputs, chosen.len(), cuts),
            _ => Bytes::copy_from_slice(&id.to_le_bytes()),
        };
        let task = Task {
            kind,
            function: if known { FUNCTION } else { "g" }.to_string(),
            params,
            inputs,
            outputs: chosen,
            reply_with_value,
        };
        (task, values)
    }

    // ---- the operations --------------------------------------------------------------------

    fn message(&mut self, message: ClientMessage) {
        let in_flight = self.requests.len() + 1;
        let violation = self.breaks_protocol(&message);
        let probe = match &message {
            ClientMessage::ScatterPart { key, .. } if self.vacant(*key) => Some(*key),
            ClientMessage::Scatter { key, .. } if self.vacant(*key) => Some(*key),
            _ => None,
        };
        let before = (
            self.session.values_held(),
            self.session.bytes_held(),
            self.session.unfinished_tasks(),
            self.session.running_tasks(),
        );
        match self
            .session
            .handle(message.clone(), |name| name == FUNCTION)
        {
            Ok(()) => {
                assert!(
                    !violation,
                    "accepted a message that breaks the protocol: {message:?}"
                );
                self.accept(message);
                self.drain(in_flight);
            }
            Err(broken) => {
                assert!(violation, "refused a good message ({broken}): {message:?}");
                // "The session is left as it was before the message."
                let after = (
                    self.session.values_held(),
                    self.session.bytes_held(),
                    self.session.unfinished_tasks(),
                    self.session.running_tasks(),
                );
                assert_eq!(before, after, "a violation changed the session");
                assert_eq!(
                    self.session.poll_action(),
                    None,
                    "a violation made an action"
                );
                if let Some(key) = probe.filter(|_| !known("leftover-piece")) {
                    let probe = ClientMessage::Scatter {
                        key,
                        value: Bytes::new(),
                    };
                    if let Err(e) = self.session.handle(probe, |_| true) {
                        panic!(
                            "{key:?} was free before the refused message {message:?}, but not \
                             after it: {e}"
                        );
                    }
                }
                // The worker closes the connection; the client makes a new one.
                self.fresh_session();
            }
        }
    }

    fn request(&mut self, request: Request) {
        let id = self.next_id;
        self.next_id += 1;
        self.message(ClientMessage::Request { id, request });
    }

    fn output(&self, request: u64, outcome: &Outcome) -> Result<TaskOutput, Failure> {
        let Some(Req::Submit { task, .. }) = self.requests.get(&request) else {
            unreachable!()
        };
        let values = |lens: &[Len], fill: u8, n: usize| -> Vec<Bytes> {
            (0..n)
                .map(|i| {
                    let len = if lens.is_empty() {
                        3
                    } else {
                        lens[i % lens.len()].0
                    };
                    bytes_of(len, fill.wrapping_add(i as u8))
                })
                .collect()
        };
        match outcome {
            Outcome::Good {
                lens,
                fill,
                verdict,
            } => Ok(TaskOutput {
                values: values(lens, *fill, task.outputs.len()),
                verdict: (task.kind == TaskKind::Retain).then_some(*verdict),
            }),
            Outcome::Shaped {
                lens,
                fill,
                verdict,
            } => Ok(TaskOutput {
                values: values(lens, *fill, lens.len()),
                verdict: *verdict,
            }),
            Outcome::Fail { kind, message } => Err(Failure::new(
                failure_kind(*kind),
                format!("failure {message}"),
            )),
        }
    }

    fn finish(&mut self, index: usize, outcome: &Outcome) {
        let (task, request) = self.runs.remove(index);
        let output = self.output(request, outcome);
        if let Some(Req::Submit { given, .. }) = self.requests.get_mut(&request) {
            *given = Some(output.clone());
        }
        self.reported.push(task);
        let in_flight = self.requests.len();
        self.session.finished(task, output);
        self.drain(in_flight);
    }

    fn op(&mut self, op: Op) {
        match op {
            Op::Scatter {
                key,
                vacant,
                len,
                fill,
            } => {
                let key = match vacant {
                    true => self.pick(key, Self::vacant),
                    false => None,
                }
                .unwrap_or(Key(u64::from(key) % KEYS as u64));
                self.message(ClientMessage::Scatter {
                    key,
                    value: bytes_of(len.0, fill),
                });
            }
            Op::Part {
                key,
                total,
                offset,
                len,
                fill,
            } => {
                let key = Key(u64::from(key) % KEYS as u64);
                let len = usize::from(len);
                let (total, len) = match (total, self.slot(key)) {
                    (Some(total), _) => (total.0 as u64, len),
                    (None, Slot::Assembling { total, got, .. }) => {
                        (*total, len.min(*total as usize - got.len()))
                    }
                    (None, _) => (200, len),
                };
                let offset = match (offset, self.slot(key)) {
                    (Some(offset), _) => u64::from(offset),
                    (None, Slot::Assembling { got, .. }) => got.len() as u64,
                    (None, _) => 0,
                };
                self.message(ClientMessage::ScatterPart {
                    key,
                    total,
                    offset,
                    chunk: bytes_of(len, fill),
                });
            }
            Op::Pause(reason) => {
                let reason = reason.map(|r| format!("paused {r}"));
                self.paused = reason.clone();
                self.session.pause(reason);
                assert_eq!(self.session.poll_action(), None, "a pause made an action");
            }
            Op::Release(keys) => {
                let keys = keys
                    .into_iter()
                    .map(|k| Key(u64::from(k) % KEYS as u64))
                    .collect();
                self.message(ClientMessage::Release(keys));
            }
            Op::Submit {
                kind,
                known,
                inputs,
                outputs,
                mode,
                reply_with_value,
                cuts,
            } => {
                let shape = TaskShape {
                    kind,
                    known,
                    inputs,
                    outputs,
                    mode,
                    reply_with_value,
                };
                let (task, _) = self.make_task(shape, cuts, None);
                self.request(Request::Submit(task));
            }
            Op::SubmitWith {
                kind,
                known,
                inputs,
                outputs,
                mode,
                reply_with_value,
                along,
                taken,
                len,
                fill,
                stray,
            } => {
                let shape = TaskShape {
                    kind,
                    known,
                    inputs,
                    outputs,
                    mode,
                    reply_with_value,
                };
                let along = Along {
                    mask: along,
                    taken,
                    len,
                    fill,
                    stray,
                };
                let (task, values) = self.make_task(shape, None, Some(along));
                self.request(Request::SubmitWith {
                    task,
                    inputs: values,
                });
            }
            Op::Fetch { key, used } => {
                let key = match used {
                    true => self.pick(key, Self::used),
                    false => None,
                }
                .unwrap_or(Key(u64::from(key) % KEYS as u64));
                self.request(Request::Fetch { key });
            }
            Op::Finish { which, outcome } => {
                if !self.runs.is_empty() {
                    let index = usize::from(which) % self.runs.len();
                    self.finish(index, &outcome);
                }
            }
            Op::Bogus { which, outcome } => {
                let task = if self.reported.is_empty() || which & 1 == 0 {
                    TaskId(u64::MAX - u64::from(which))
                } else {
                    self.reported[usize::from(which >> 1) % self.reported.len()]
                };
                let output = match outcome {
                    Outcome::Fail { kind, .. } => Err(Failure::new(failure_kind(kind), "bogus")),
                    _ => Ok(TaskOutput {
                        values: vec![Bytes::from_static(b"bogus")],
                        verdict: Some(true),
                    }),
                };
                let before = (
                    self.session.values_held(),
                    self.session.bytes_held(),
                    self.session.unfinished_tasks(),
                    self.session.running_tasks(),
                );
                self.session.finished(task, output);
                assert_eq!(
                    self.session.poll_action(),
                    None,
                    "a bogus report made an action"
                );
                let after = (
                    self.session.values_held(),
                    self.session.bytes_held(),
                    self.session.unfinished_tasks(),
                    self.session.running_tasks(),
                );
                assert_eq!(before, after, "a bogus report changed the session");
            }
        }
    }

    /// Reports every task the session asks to run until it asks for none, then checks that
    /// nothing is left unanswered.
    fn settle(&mut self) {
        let good = Outcome::Good {
            lens: vec![Len(5)],
            fill: 0,
            verdict: true,
        };
        while !self.runs.is_empty() {
            self.finish(0, &good);
        }
        assert_eq!(
            self.session.unfinished_tasks(),
            0,
            "tasks left once all runs are reported"
        );
        assert_eq!(self.session.running_tasks(), 0);
        assert!(
            self.requests.is_empty(),
            "requests never answered: {:?}",
            self.requests.keys().collect::<Vec<_>>()
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut driver = Driver::new();
    let trace = std::env::var_os("RIVULET_FUZZ_TRACE").is_some();
    while !u.is_empty() {
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        if trace {
            eprintln!("{op:?}");
        }
        driver.op(op);
    }
    driver.settle();
    assert!(driver.sessions >= 1);
});
