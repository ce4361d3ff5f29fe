//! The client's table of requests in flight (`InFlight`) against a hostile or broken worker,
//! checked against a model of what each reply must do.
//!
//! The fuzz input is used twice. First as the bytes a worker sends: decoded frame by frame with
//! `FrameDecoder::decode::<Reply>`, each reply that decodes is given to a table that has a few
//! requests in flight. Then, decoded with `arbitrary`, as a sequence of operations on a table
//! with a small value limit: inserts, replies with unknown or stale ids, whole values, values
//! in pieces (well formed, with inconsistent totals, past their total, over the limit), other
//! responses, duplicates, and `close()`. When `on_reply` says the worker is broken the driver
//! closes the table, as the client's link does.
//!
//! Checked (a panic is a finding):
//! - `on_reply` hands back the waiter of the request the reply names, each inserted waiter at
//!   most once overall, with the reply's own response; a value in pieces that add up to their
//!   total comes back as `Response::Value` of exactly those bytes in order, a total over the
//!   limit as `AnswerError::ValueTooLarge` (and the rest of its pieces are skipped);
//! - a reply for a request not in flight, or pieces that do not fit, are errors;
//! - `expire(now, deadline)` hands back exactly the requests sent `deadline` or longer ago,
//!   and a late reply to one of them (and the rest of its pieces) is dropped, once;
//! - a piece that does not start where the pieces before it end is an error;
//! - `close()` hands back, exactly once each, every waiter inserted and not answered, and
//!   later inserts give their waiter back; replies after it are errors and answer nothing;
//! - `len()` is the number of requests waiting, and `bytes_buffered()` the bytes of the pieces
//!   of unfinished replies (so at most `len()` × `max_value`).

//!
//! A finding already reported can be let through while looking for others, by naming it in the
//! environment variable `RIVULET_FUZZ_KNOWN` (comma-separated); by default every check is on.
//! Name: `lost-waiter` (a whole reply after pieces drops its request's waiter, which `close()`
//! then does not hand back). `RIVULET_FUZZ_TRACE=1` prints the operations as they run.

#![no_main]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use rivulet::remote::proto::{
    AnswerError, Failure, FailureKind, FrameDecoder, InFlight, Reply, ReplyError, Response,
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

/// What the model expects of one reply.
#[derive(Debug, PartialEq)]
enum Expect {
    /// An error: the worker is broken.
    Broken,
    /// Nothing yet: more pieces are to come, or skipped.
    Nothing,
    /// The waiter of this request with this answer.
    Answer(u64, Result<Response, AnswerError>),
}

struct Harness {
    table: InFlight<u64>,
    max_value: u64,
    closed: bool,
    next_waiter: u64,
    /// The waiter of every request inserted in this table, by id.
    waiters: HashMap<u64, u64>,
    /// The requests waiting, with the pieces of their reply so far.
    waiting: BTreeMap<u64, Option<(u64, Vec<u8>)>>,
    /// Requests answered "too large" whose pieces are still coming: bytes left to skip.
    skipping: HashMap<u64, u64>,
    /// Requests given up on at their deadline, whose late reply is to be dropped.
    expired: HashSet<u64>,
    /// When each request in flight was sent, in milliseconds of the driver's clock.
    sent: HashMap<u64, u64>,
    /// The driver's clock, in milliseconds since `start`.
    clock: u64,
    start: Instant,
    /// Every waiter handed back, by `on_reply`, `expire` or `close`, in any table.
    returned: HashSet<u64>,
    tables: usize,
}

impl Harness {
    fn new(max_value: u64) -> Self {
        Harness {
            table: InFlight::new(max_value),
            max_value,
            closed: false,
            next_waiter: 0,
            waiters: HashMap::new(),
            waiting: BTreeMap::new(),
            skipping: HashMap::new(),
            expired: HashSet::new(),
            sent: HashMap::new(),
            clock: 0,
            start: Instant::now(),
            returned: HashSet::new(),
            tables: 1,
        }
    }

    /// A new connection (after the old one is closed): a new, open table.
    fn reopen(&mut self) {
        if !self.closed {
            self.close();
        }
        self.table = InFlight::new(self.max_value);
        self.closed = false;
        self.waiters.clear();
        self.waiting.clear();
        self.skipping.clear();
        self.expired.clear();
        self.sent.clear();
        self.tables += 1;
    }

    fn check(&self) {
        assert_eq!(self.table.len(), self.waiting.len(), "len()");
        assert_eq!(self.table.is_empty(), self.waiting.is_empty());
        assert_eq!(self.table.is_closed(), self.closed);
        let buffered: u64 = self
            .waiting
            .values()
            .flatten()
            .map(|(_, b)| b.len() as u64)
            .sum();
        let bytes = self.table.bytes_buffered();
        assert_eq!(bytes, buffered, "bytes_buffered()");
        assert!(bytes <= self.table.len() as u64 * self.max_value);
    }

    fn insert(&mut self) -> Option<u64> {
        let waiter = self.next_waiter;
        self.next_waiter += 1;
        let at = self.start + Duration::from_millis(self.clock);
        let inserted = self.table.insert_at(waiter, at);
        if self.closed {
            assert_eq!(inserted, Err(waiter), "an insert into a closed table");
            self.returned.insert(waiter);
            return None;
        }
        let id = inserted.expect("an insert into an open table");
        assert!(!self.waiters.contains_key(&id), "id {id} given twice");
        self.waiters.insert(id, waiter);
        self.waiting.insert(id, None);
        self.sent.insert(id, self.clock);
        self.check();
        Some(id)
    }

    fn expect(&mut self, reply: &Reply) -> Expect {
        let id = reply.id;
        if self.expired.remove(&id) {
            // A late reply to a request given up on is dropped, and so is the rest of it.
            if let Response::ValuePart { total, chunk, .. } = &reply.response {
                let left = total.saturating_sub(chunk.len() as u64);
                if left > 0 {
                    self.skipping.insert(id, left);
                }
            }
            return Expect::Nothing;
        }
        let (total, offset, chunk) = match &reply.response {
            Response::ValuePart {
                total,
                offset,
                chunk,
            } => (*total, *offset, chunk),
            other => {
                if self.skipping.contains_key(&id) {
                    return Expect::Broken;
                }
                return match self.waiting.get(&id) {
                    Some(None) => {
                        self.waiting.remove(&id);
                        Expect::Answer(id, Ok(other.clone()))
                    }
                    // A whole reply in the middle of pieces, or no such request: the request
                    // stays in flight until the table is closed.
                    Some(Some(_)) | None => Expect::Broken,
                };
            }
        };
        let len = chunk.len() as u64;
        if let Some(left) = self.skipping.get_mut(&id) {
            if len > *left {
                return Expect::Broken;
            }
            *left -= len;
            if *left == 0 {
                self.skipping.remove(&id);
            }
            return Expect::Nothing;
        }
        let Some(pieces) = self.waiting.get_mut(&id) else {
            return Expect::Broken;
        };
        match pieces {
            None if total > self.max_value => {
                if len > total {
                    return Expect::Broken;
                }
                if total > len {
                    self.skipping.insert(id, total - len);
                }
                self.waiting.remove(&id);
                Expect::Answer(
                    id,
                    Err(AnswerError::ValueTooLarge {
                        len: total,
                        max: self.max_value,
                    }),
                )
            }
            None => {
                if len > total || offset != 0 {
                    return Expect::Broken;
                }
                if len == total {
                    self.waiting.remove(&id);
                    return Expect::Answer(id, Ok(Response::Value(chunk.clone())));
                }
                *pieces = Some((total, chunk.to_vec()));
                Expect::Nothing
            }
            Some((t, got)) => {
                if *t != total || offset != got.len() as u64 || got.len() as u64 + len > total {
                    return Expect::Broken;
                }
                got.extend_from_slice(chunk);
                if (got.len() as u64) < total {
                    return Expect::Nothing;
                }
                let bytes = Bytes::from(std::mem::take(got));
                self.waiting.remove(&id);
                Expect::Answer(id, Ok(Response::Value(bytes)))
            }
        }
    }

    /// Gives one reply to the table; `false` if the table is closed after it.
    fn reply(&mut self, reply: Reply) -> bool {
        if self.closed {
            let taken = self.table.on_reply(reply.clone());
            assert!(
                matches!(taken, Err(ReplyError::UnknownRequest(id)) if id == reply.id),
                "a reply to a closed table gave {taken:?}"
            );
            self.check();
            return false;
        }
        let lost = !matches!(reply.response, Response::ValuePart { .. })
            && !self.skipping.contains_key(&reply.id)
            && matches!(self.waiting.get(&reply.id), Some(Some(_)));
        let expect = self.expect(&reply);
        let taken = self.table.on_reply(reply.clone());
        match (taken, expect) {
            (Ok(None), Expect::Nothing) => {}
            (Ok(Some((waiter, answer))), Expect::Answer(id, expected)) => {
                assert_eq!(
                    Some(&waiter),
                    self.waiters.get(&id),
                    "the waiter of another request"
                );
                assert!(
                    self.returned.insert(waiter),
                    "waiter {waiter} handed back twice"
                );
                assert_eq!(answer, expected, "the answer to {id}");
            }
            (Err(error), Expect::Broken) => {
                let named = match error {
                    ReplyError::UnknownRequest(id) | ReplyError::BadPiece(id) => id,
                    _ => reply.id,
                };
                assert_eq!(named, reply.id, "an error naming another request");
                if lost && known("lost-waiter") {
                    // The table dropped the waiter: count it as handed back.
                    self.waiting.remove(&reply.id);
                    self.returned.insert(self.waiters[&reply.id]);
                }
                // The link closes a connection to a broken worker.
                self.close();
                return false;
            }
            (taken, expect) => panic!("{reply:?} gave {taken:?}, expected {expect:?}"),
        }
        self.check();
        true
    }

    fn close(&mut self) {
        let drained = self.table.close();
        let expected: Vec<(u64, u64)> = self
            .waiting
            .keys()
            .map(|id| (*id, self.waiters[id]))
            .collect();
        assert_eq!(
            drained, expected,
            "close() must hand back every waiter not answered, once each"
        );
        for (_, waiter) in &drained {
            assert!(
                self.returned.insert(*waiter),
                "waiter {waiter} handed back twice"
            );
        }
        self.closed = true;
        self.waiting.clear();
        self.skipping.clear();
        self.expired.clear();
        self.check();
        // Closing again hands back nothing.
        assert!(self.table.close().is_empty());
    }

    /// Gives up on the requests sent `deadline` ms ago or more: exactly those come back.
    fn expire(&mut self, deadline: u64) {
        let now = self.start + Duration::from_millis(self.clock);
        let given_up = self.table.expire(now, Duration::from_millis(deadline));
        let expected: Vec<(u64, u64)> = self
            .waiting
            .keys()
            .filter(|id| self.clock - self.sent[id] >= deadline)
            .map(|id| (*id, self.waiters[id]))
            .collect();
        assert_eq!(
            given_up, expected,
            "expire() must hand back the requests overdue"
        );
        for (id, waiter) in &given_up {
            assert!(
                self.returned.insert(*waiter),
                "waiter {waiter} handed back twice"
            );
            self.waiting.remove(id);
            self.expired.insert(*id);
        }
        self.check();
    }

    /// At the end every waiter inserted has come back exactly once.
    fn finish(&mut self) {
        if !self.closed {
            self.close();
        }
        assert_eq!(
            self.returned.len() as u64,
            self.next_waiter,
            "waiters that never came back"
        );
    }
}

/// The replies of a worker: the fuzz bytes as frames.
fn from_frames(data: &[u8]) {
    let mut h = Harness::new(64);
    for _ in 0..4 {
        h.insert();
    }
    let mut buf = BytesMut::from(data);
    let mut decoder = FrameDecoder::new(1 << 12);
    loop {
        match decoder.decode::<Reply>(&mut buf) {
            Ok(Some(reply)) => {
                if !h.reply(reply) {
                    h.reopen();
                    for _ in 0..4 {
                        h.insert();
                    }
                }
                // Keep some requests in flight, with ids the bytes can name.
                if h.waiting.len() < 4 {
                    h.insert();
                }
            }
            Ok(None) => break,
            Err(_) => {
                h.close();
                break;
            }
        }
    }
    h.finish();
}

#[derive(Debug, Arbitrary)]
enum IdSel {
    /// One of the requests waiting (in id order).
    Waiting(u8),
    /// One of the requests whose pieces are being skipped.
    Skipping(u8),
    /// The latest ids given, answered or not.
    Recent(u8),
    Raw(u64),
}

#[derive(Debug, Arbitrary)]
enum TotalSel {
    /// The total of the pieces so far (or of 3 × 16 bytes for a first piece).
    Current,
    Small(u8),
    /// Around the limit.
    Near(i8),
    Raw(u64),
}

#[derive(Debug, Arbitrary)]
enum Resp {
    Value {
        len: u8,
        fill: u8,
    },
    /// `offset: None`: where the pieces so far end.
    Part {
        total: TotalSel,
        offset: Option<u16>,
        len: u8,
        fill: u8,
    },
    Done {
        sizes: Vec<u16>,
        verdict: Option<bool>,
        values: Vec<Option<u8>>,
    },
    Failed {
        kind: u8,
        message: u8,
    },
    Rejected(u8),
}

#[derive(Debug, Arbitrary)]
enum Op {
    Insert,
    Reply {
        id: IdSel,
        response: Resp,
    },
    /// The same reply twice.
    Twice {
        id: IdSel,
        response: Resp,
    },
    /// A whole value of `total` bytes in pieces of `piece` bytes, as a good worker sends it.
    Pieces {
        id: IdSel,
        total: u16,
        piece: u8,
        fill: u8,
    },
    /// The driver's clock moves on, by milliseconds.
    Tick(u8),
    /// Gives up on the requests sent this many milliseconds ago or more.
    Expire(u8),
    Close,
    Reopen,
}

fn bytes_of(len: usize, fill: u8) -> Bytes {
    (0..len).map(|i| fill.wrapping_add(i as u8)).collect()
}

impl Harness {
    fn id(&self, sel: &IdSel) -> u64 {
        match sel {
            IdSel::Waiting(n) if !self.waiting.is_empty() => *self
                .waiting
                .keys()
                .nth(usize::from(*n) % self.waiting.len())
                .unwrap(),
            IdSel::Skipping(n) if !self.skipping.is_empty() => {
                let mut ids: Vec<u64> = self.skipping.keys().copied().collect();
                ids.sort_unstable();
                ids[usize::from(*n) % ids.len()]
            }
            IdSel::Recent(n) => {
                let last = self.waiters.keys().max().copied().unwrap_or(0);
                last.saturating_sub(u64::from(*n % 8))
            }
            IdSel::Raw(id) => *id,
            _ => 0,
        }
    }

    fn response(&self, id: u64, resp: &Resp) -> Response {
        match resp {
            Resp::Value { len, fill } => Response::Value(bytes_of(usize::from(*len), *fill)),
            Resp::Part {
                total,
                offset,
                len,
                fill,
            } => {
                let (current, got) = match self.waiting.get(&id) {
                    Some(Some((t, got))) => (Some(*t), got.len() as u64),
                    _ => (None, 0),
                };
                let total = match total {
                    TotalSel::Current => current.unwrap_or(48),
                    TotalSel::Small(t) => u64::from(*t),
                    TotalSel::Near(d) => self.max_value.saturating_add_signed(i64::from(*d % 3)),
                    TotalSel::Raw(t) => *t,
                };
                Response::ValuePart {
                    total,
                    offset: offset.map_or(got, u64::from),
                    chunk: bytes_of(usize::from(*len % 33), *fill),
                }
            }
            Resp::Done {
                sizes,
                verdict,
                values,
            } => Response::Done {
                sizes: sizes.iter().map(|&s| u64::from(s)).collect(),
                verdict: *verdict,
                values: values
                    .iter()
                    .map(|v| v.map(|n| bytes_of(usize::from(n % 8), n)))
                    .collect(),
            },
            Resp::Failed { kind, message } => {
                let kind = match kind % 6 {
                    0 => FailureKind::Panicked,
                    1 => FailureKind::Returned,
                    2 => FailureKind::Decode,
                    3 => FailureKind::Encode,
                    4 => FailureKind::ValueTooLarge,
                    _ => FailureKind::Aborted,
                };
                Response::Failed(Failure::new(kind, format!("m{message}")))
            }
            Resp::Rejected(m) => Response::Rejected(format!("r{m}")),
        }
    }

    fn op(&mut self, op: Op) {
        match op {
            Op::Insert => {
                self.insert();
            }
            Op::Reply { id, response } => {
                let id = self.id(&id);
                let response = self.response(id, &response);
                self.reply(Reply { id, response });
            }
            Op::Twice { id, response } => {
                let id = self.id(&id);
                let response = self.response(id, &response);
                if self.reply(Reply {
                    id,
                    response: response.clone(),
                }) {
                    self.reply(Reply { id, response });
                }
            }
            Op::Pieces {
                id,
                total,
                piece,
                fill,
            } => {
                let id = self.id(&id);
                let total = usize::from(total) % (2 * self.max_value as usize + 2);
                let piece = usize::from(piece).max(1);
                let value = bytes_of(total, fill);
                let mut start = 0;
                loop {
                    let end = (start + piece).min(total);
                    let reply = Reply {
                        id,
                        response: Response::ValuePart {
                            total: total as u64,
                            offset: start as u64,
                            chunk: value.slice(start..end),
                        },
                    };
                    // The model checks that the last piece answers with exactly `value`.
                    if !self.reply(reply) || end == total {
                        break;
                    }
                    start = end;
                }
            }
            Op::Tick(ms) => self.clock += u64::from(ms),
            Op::Expire(deadline) => {
                if !self.closed {
                    self.expire(u64::from(deadline));
                }
            }
            Op::Close => self.close(),
            Op::Reopen => self.reopen(),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    from_frames(data);

    let mut u = Unstructured::new(data);
    let max_value = match u.arbitrary::<u8>().unwrap_or(0) % 5 {
        0 => 0,
        1 => 1,
        2 => 16,
        3 => 64,
        _ => 100,
    };
    let mut h = Harness::new(max_value);
    let trace = std::env::var_os("RIVULET_FUZZ_TRACE").is_some();
    while !u.is_empty() {
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        if trace {
            eprintln!("{op:?}");
        }
        h.op(op);
    }
    h.finish();
});
