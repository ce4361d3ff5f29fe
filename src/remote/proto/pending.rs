//! The client's table of requests in flight on one connection, with its "closed" flag.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::message::{Reply, Response};

/// A reply that cannot be taken as an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The reply names a request that is not in flight: the worker is broken.
    #[error("a reply to request {0}, which is not in flight")]
    UnknownRequest(u64),
    /// The pieces of a reply do not fit each other: the worker is broken.
    #[error("the pieces of the reply to request {0} do not fit together")]
    BadPiece(u64),
}

/// Why the answer to one request is not a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// The value sent back is larger than the client's limit.
    #[error("the worker sent a value of {len} bytes, over the limit of {max} bytes")]
    ValueTooLarge {
        /// The announced length.
        len: u64,
        /// The client's limit.
        max: u64,
    },
}

/// A request answered: its waiter, and the response (or why it is not one).
pub type Answered<W> = (W, Result<Response, AnswerError>);

#[derive(Debug)]
struct Waiting<W> {
    waiter: W,
    /// When the request was sent, for its deadline.
    sent: Instant,
    /// How much longer than the deadline it may take (a pull waits on another worker too).
    grace: Duration,
    /// The pieces of a value reply so far, with its announced length.
    pieces: Option<(u64, BytesMut)>,
}

/// The client's table of requests in flight on one connection, with its "closed" flag.
///
/// The flag and the table are one value, to be kept under one lock: a request can only be
/// added while the connection is open, and closing it drains every waiter at once, so no
/// request is ever added after the drain and left waiting forever (tokio's channels keep their
/// "closed" bit and their queue together for the same reason). Replies that come in pieces
/// ([`Response::ValuePart`]) are put together here, up to a value limit.
///
/// ```
/// use bytes::Bytes;
/// use rivulet::remote::proto::{InFlight, Reply, Response};
///
/// let mut table = InFlight::new(1 << 20);
/// let id = table.insert("fetch of key 3").unwrap();
/// let reply = Reply { id, response: Response::Value(Bytes::from_static(b"x")) };
/// let (waiter, answer) = table.on_reply(reply).unwrap().unwrap();
/// assert_eq!(waiter, "fetch of key 3");
/// assert!(answer.is_ok());
///
/// let late = table.insert("submit").unwrap();
/// assert_eq!(table.close(), vec![(late, "submit")]);
/// assert_eq!(table.insert("too late"), Err("too late"));
/// ```
#[derive(Debug)]
pub struct InFlight<W> {
    closed: bool,
    next_id: u64,
    waiting: HashMap<u64, Waiting<W>>,
    /// Requests whose answer was refused (too large) but whose pieces are still coming:
    /// how many bytes are still to be skipped.
    skipping: HashMap<u64, u64>,
    /// Requests given up on at their deadline: a late reply to one is dropped, not taken as a
    /// sign of a broken worker.
    expired: HashSet<u64>,
    max_value: u64,
}

impl<W> InFlight<W> {
    /// An open, empty table that accepts values up to `max_value` bytes.
    pub fn new(max_value: u64) -> Self {
        InFlight {
            closed: false,
            next_id: 0,
            waiting: HashMap::new(),
            skipping: HashMap::new(),
            expired: HashSet::new(),
            max_value,
        }
    }

    /// Adds a request and returns its id, or gives `waiter` back if the table is closed.
    ///
    /// # Errors
    ///
    /// `Err(waiter)` once [`close`](Self::close) has been called.
    pub fn insert(&mut self, waiter: W) -> Result<u64, W> {
        self.insert_at(waiter, Instant::now())
    }

    /// [`insert`](Self::insert), sent at `sent` (the caller's clock, for
    /// [`expire`](Self::expire)).
    ///
    /// # Errors
    ///
    /// `Err(waiter)` once [`close`](Self::close) has been called.
    pub fn insert_at(&mut self, waiter: W, sent: Instant) -> Result<u64, W> {
        self.insert_with_grace(waiter, sent, Duration::ZERO)
    }

    /// [`insert_at`](Self::insert_at), for a request that may take `grace` longer than the
    /// deadline [`expire`](Self::expire) is given: one whose answer waits on someone else too.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use rivulet::remote::proto::InFlight;
    ///
    /// let mut table = InFlight::new(1024);
    /// let start = Instant::now();
    /// let id = table.insert_with_grace("pull", start, Duration::from_secs(7)).unwrap();
    /// assert!(table.expire(start + Duration::from_secs(6), Duration::from_secs(5)).is_empty());
    /// assert_eq!(table.expire(start + Duration::from_secs(12), Duration::from_secs(5)), vec![(id, "pull")]);
    /// ```
    ///
    /// # Errors
    ///
    /// `Err(waiter)` once [`close`](Self::close) has been called.
    pub fn insert_with_grace(
        &mut self,
        waiter: W,
        sent: Instant,
        grace: Duration,
    ) -> Result<u64, W> {
        if self.closed {
            return Err(waiter);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.waiting.insert(
            id,
            Waiting {
                waiter,
                sent,
                grace,
                pieces: None,
            },
        );
        Ok(id)
    }

    /// Takes a reply: `Some` with the waiter and its answer once the request is answered
    /// (a reply in pieces is answered by its last piece, as a [`Response::Value`]), `None`
    /// while pieces are still to come.
    ///
    /// # Errors
    ///
    /// A [`ReplyError`] when the reply cannot belong to a request in flight: the worker is
    /// broken, and the connection should be dropped.
    pub fn on_reply(&mut self, reply: Reply) -> Result<Option<Answered<W>>, ReplyError> {
        let Reply { id, response } = reply;
        if self.expired.contains(&id) {
            // A late answer to a request given up on: drop it (and the rest of its pieces).
            if let Response::ValuePart { total, chunk, .. } = &response {
                let left = total.saturating_sub(chunk.len() as u64);
                self.expired.remove(&id);
                if left > 0 {
                    self.skipping.insert(id, left);
                }
            } else {
                self.expired.remove(&id);
            }
            return Ok(None);
        }
        let Response::ValuePart {
            total,
            offset,
            chunk,
        } = response
        else {
            if self.skipping.contains_key(&id) {
                return Err(ReplyError::BadPiece(id));
            }
            // A whole reply to a request whose pieces have begun is broken: leave the waiter
            // in the table, so that closing it answers the waiter.
            match self.waiting.get(&id) {
                None => return Err(ReplyError::UnknownRequest(id)),
                Some(waiting) if waiting.pieces.is_some() => return Err(ReplyError::BadPiece(id)),
                Some(_) => {}
            }
            let waiting = self
                .waiting
                .remove(&id)
                .ok_or(ReplyError::UnknownRequest(id))?;
            return Ok(Some((waiting.waiter, Ok(response))));
        };
        if let Some(left) = self.skipping.get_mut(&id) {
            *left = left
                .checked_sub(chunk.len() as u64)
                .ok_or(ReplyError::BadPiece(id))?;
            if *left == 0 {
                self.skipping.remove(&id);
            }
            return Ok(None);
        }
        let waiting = self
            .waiting
            .get_mut(&id)
            .ok_or(ReplyError::UnknownRequest(id))?;
        if waiting.pieces.is_none() {
            if total > self.max_value {
                let left = total
                    .checked_sub(chunk.len() as u64)
                    .ok_or(ReplyError::BadPiece(id))?;
                if left > 0 {
                    self.skipping.insert(id, left);
                }
                let waiting = self
                    .waiting
                    .remove(&id)
                    .ok_or(ReplyError::UnknownRequest(id))?;
                let error = AnswerError::ValueTooLarge {
                    len: total,
                    max: self.max_value,
                };
                return Ok(Some((waiting.waiter, Err(error))));
            }
            let reserve = usize::try_from(total.min(16 << 20)).unwrap_or(0);
            waiting.pieces = Some((total, BytesMut::with_capacity(reserve)));
        }
        let Some((expected, bytes)) = waiting.pieces.as_mut() else {
            return Err(ReplyError::BadPiece(id));
        };
        let after = (bytes.len() as u64).saturating_add(chunk.len() as u64);
        if *expected != total || offset != bytes.len() as u64 || after > total {
            return Err(ReplyError::BadPiece(id));
        }
        bytes.extend_from_slice(&chunk);
        if after < total {
            return Ok(None);
        }
        let waiting = self
            .waiting
            .remove(&id)
            .ok_or(ReplyError::UnknownRequest(id))?;
        let bytes: Bytes = waiting.pieces.map(|(_, b)| b.freeze()).unwrap_or_default();
        Ok(Some((waiting.waiter, Ok(Response::Value(bytes)))))
    }

    /// Gives up on the requests sent before `now - deadline` and hands them back, with their
    /// ids; a late reply to one of them is dropped.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use rivulet::remote::proto::InFlight;
    ///
    /// let mut table = InFlight::new(1024);
    /// let start = Instant::now();
    /// let id = table.insert_at("slow", start).unwrap();
    /// assert!(table.expire(start + Duration::from_secs(1), Duration::from_secs(5)).is_empty());
    /// assert_eq!(table.expire(start + Duration::from_secs(6), Duration::from_secs(5)), vec![(id, "slow")]);
    /// ```
    pub fn expire(&mut self, now: Instant, deadline: Duration) -> Vec<(u64, W)> {
        let overdue: Vec<u64> = self
            .waiting
            .iter()
            .filter(|(_, w)| now.saturating_duration_since(w.sent) >= deadline + w.grace)
            .map(|(id, _)| *id)
            .collect();
        let mut expired = Vec::with_capacity(overdue.len());
        for id in overdue {
            if let Some(waiting) = self.waiting.remove(&id) {
                self.expired.insert(id);
                expired.push((id, waiting.waiter));
            }
        }
        expired.sort_by_key(|(id, _)| *id);
        expired
    }

    /// Closes the table and hands back every request still waiting, with its id. Later
    /// [`insert`](Self::insert)s fail.
    pub fn close(&mut self) -> Vec<(u64, W)> {
        self.closed = true;
        self.skipping.clear();
        self.expired.clear();
        let mut drained: Vec<(u64, W)> = self
            .waiting
            .drain()
            .map(|(id, waiting)| (id, waiting.waiter))
            .collect();
        drained.sort_by_key(|(id, _)| *id);
        drained
    }

    /// Whether [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// How many requests are waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether no request is waiting.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The bytes of replies put together so far (pieces of values not complete yet).
    pub fn bytes_buffered(&self) -> u64 {
        self.waiting
            .values()
            .filter_map(|w| w.pieces.as_ref())
            .map(|(_, b)| b.len() as u64)
            .sum()
    }
}
