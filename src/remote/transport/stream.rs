//! Reading and writing framed messages on QUIC streams.
//!
//! Thin async wrappers around the sans-IO framing of [`proto`](crate::remote::proto): the
//! framing logic stays there, tested without sockets; these only move bytes.
//!
//! ```no_run
//! use rivulet::remote::proto::{ClientMessage, Key, Reply, Request, DEFAULT_MAX_FRAME};
//! use rivulet::remote::transport::{read_message, write_message, FrameReader};
//!
//! # async fn example(conn: quinn::Connection) -> Result<(), Box<dyn std::error::Error>> {
//! let (mut send, mut recv) = conn.open_bi().await?;
//! let fetch = ClientMessage::Request { id: 1, request: Request::Fetch { key: Key(7) } };
//! write_message(&mut send, &fetch, DEFAULT_MAX_FRAME).await?;
//! let mut reader = FrameReader::new(DEFAULT_MAX_FRAME);
//! while let Some(reply) = read_message::<Reply>(&mut recv, &mut reader).await? {
//!     println!("reply to {}: {:?}", reply.id, reply.response);
//! }
//! # Ok(())
//! # }
//! ```

use bytes::BytesMut;
use serde::Serialize;
use serde::de::DeserializeOwned;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, mpsc};

use std::time::Duration;

use crate::remote::proto::{FrameDecoder, FrameError, decode_exact, encode};

/// Why a framed message could not be read from or written to a QUIC stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The bytes were not a valid frame (too large, malformed, truncated).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Reading from the QUIC stream failed (the connection was lost, or the peer reset it).
    #[error("cannot read frame: {0}")]
    Read(#[from] quinn::ReadError),
    /// Writing to the QUIC stream failed (the connection was lost, or the peer stopped it).
    #[error("cannot write frame: {0}")]
    Write(#[from] quinn::WriteError),
    /// A frame was begun and not finished in time: the peer trickles it, or stalled.
    #[error("a frame stalled after {received} bytes: not complete within {timeout:?}")]
    Stalled {
        /// The bytes of the frame that had come.
        received: usize,
        /// The time a frame may take.
        timeout: Duration,
    },
}

/// The state of reading frames from one stream: the limit, and the part of a frame read so far.
///
/// Keep one per stream, for the life of the stream.
#[derive(Debug, Default)]
pub struct FrameReader {
    decoder: FrameDecoder,
    partial: BytesMut,
}

impl FrameReader {
    /// A reader that refuses frames whose body is longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            decoder: FrameDecoder::new(max),
            partial: BytesMut::new(),
        }
    }

    /// The number of bytes of an incomplete frame held.
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }
}

/// Reads the next message from `recv`; `None` when the stream ends cleanly between messages.
///
/// Cancel-safe: the bytes of a frame read so far stay in `reader`, so the future may be dropped
/// (in a `select!`, say) and the call repeated. It takes no byte beyond the end of the current
/// frame from the stream, and the buffer grows as the body arrives, never by the announced
/// length at once.
///
/// # Errors
///
/// Those of [`FrameDecoder::decode_eof`] ([`FrameError::TooLarge`] before the body is read,
/// [`FrameError::Truncated`] if the stream ends mid-frame, [`FrameError::Malformed`]), and
/// [`StreamError::Read`] if the stream or connection fails. After an error the stream is out of
/// step: drop it.
pub async fn read_message<M: DeserializeOwned>(
    recv: &mut quinn::RecvStream,
    reader: &mut FrameReader,
) -> Result<Option<M>, StreamError> {
    loop {
        let needed = reader.decoder.bytes_needed(&reader.partial)?;
        if needed == 0 {
            return Ok(reader.decoder.decode(&mut reader.partial)?);
        }
        // The only await point: quinn consumes no data from the stream unless this completes.
        match recv.read_chunk(needed, true).await? {
            Some(chunk) => reader.partial.extend_from_slice(&chunk.bytes),
            None => return Ok(reader.decoder.decode_eof(&mut reader.partial)?),
        }
    }
}

/// Writes `msg` as one frame on `send`. Does not finish the stream.
///
/// Not cancel-safe: dropping the future may leave part of the frame written.
///
/// # Errors
///
/// Those of [`encode`] (nothing is written then), and [`StreamError::Write`] if the stream or
/// connection fails.
pub async fn write_message<M: Serialize>(
    send: &mut quinn::SendStream,
    msg: &M,
    max: usize,
) -> Result<(), StreamError> {
    let mut buf = BytesMut::new();
    encode(msg, max, &mut buf)?;
    send.write_chunk(buf.freeze()).await?;
    Ok(())
}

/// How many queued messages the writer puts into one write.
const WRITE_BATCH: usize = 256;

/// How many bytes of frames the writer gathers before it writes them.
const WRITE_BYTES: usize = 1 << 20;

/// How long a finished stream waits for its peer to acknowledge the last bytes.
const FINISH_TIMEOUT: Duration = Duration::from_secs(5);

/// A receive stream with its frame-reading state, read one message at a time.
#[derive(Debug)]
pub(crate) struct MessageReader {
    recv: quinn::RecvStream,
    state: FrameReader,
    /// How long a frame may take from its first byte to its last, if bounded.
    frame_timeout: Option<Duration>,
    /// When the first byte of the frame being read arrived.
    frame_started: Option<tokio::time::Instant>,
}

impl MessageReader {
    pub(crate) fn new(recv: quinn::RecvStream, max_frame: usize) -> Self {
        MessageReader {
            recv,
            state: FrameReader::new(max_frame),
            frame_timeout: None,
            frame_started: None,
        }
    }

    /// Bounds how long a frame may take once its first byte has come: a peer that announces a
    /// frame and then trickles it cannot hold its buffer forever.
    pub(crate) fn with_frame_timeout(mut self, timeout: Duration) -> Self {
        self.frame_timeout = Some(timeout);
        self
    }

    /// The next message, or `None` at a clean end of the stream.
    pub(crate) async fn next<M: DeserializeOwned>(&mut self) -> Result<Option<M>, StreamError> {
        match self.next_body().await? {
            Some(body) => Ok(Some(decode_exact(&body)?)),
            None => Ok(None),
        }
    }

    /// The body of the next frame, undecoded, or `None` at a clean end of the stream.
    ///
    /// Cancel-safe, as [`read_message`] is.
    pub(crate) async fn next_body(&mut self) -> Result<Option<BytesMut>, StreamError> {
        loop {
            let needed = self.state.decoder.bytes_needed(&self.state.partial)?;
            if needed == 0 {
                self.frame_started = None;
                return Ok(self.state.decoder.decode_body(&mut self.state.partial)?);
            }
            let read = self.recv.read_chunk(needed, true);
            let chunk = match (self.frame_timeout, self.state.partial.is_empty()) {
                (Some(timeout), false) => {
                    let started = *self
                        .frame_started
                        .get_or_insert_with(tokio::time::Instant::now);
                    tokio::time::timeout_at(started + timeout, read)
                        .await
                        .map_err(|_| StreamError::Stalled {
                            received: self.state.partial.len(),
                            timeout,
                        })??
                }
                _ => read.await?,
            };
            match chunk {
                Some(chunk) => self.state.partial.extend_from_slice(&chunk.bytes),
                None if self.state.partial.is_empty() => return Ok(None),
                None => {
                    return Err(StreamError::Frame(FrameError::Truncated {
                        expected: self.state.partial.len() + needed,
                        received: self.state.partial.len(),
                    }));
                }
            }
        }
    }

    /// Changes the largest frame accepted from now on (a worker reads a small hello first).
    pub(crate) fn set_max_frame(&mut self, max_frame: usize) {
        self.state.decoder = FrameDecoder::new(max_frame);
    }
}

/// Spawns the task that writes queued messages to `send`, several frames per write. It ends (and
/// finishes the stream) when every sender is dropped, or at the first write error. `merge` may
/// rewrite each batch taken from the queue before it is written (to fold messages together).
pub(crate) fn spawn_writer<M>(
    send: quinn::SendStream,
    max_frame: usize,
    merge: fn(&mut Vec<M>),
) -> (
    mpsc::UnboundedSender<M>,
    tokio::task::JoinHandle<Result<(), StreamError>>,
)
where
    M: Serialize + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel::<M>();
    let task = tokio::spawn(write_all_queued(
        rx,
        send,
        max_frame,
        |m| (m, 0),
        merge,
        |_| {},
    ));
    (tx, task)
}

/// The sending side of a writer that counts the bytes queued and not yet written, so that the
/// one queuing can stop making more while its peer does not read ([`spawn_counted_writer`]).
#[derive(Debug, Clone)]
pub(crate) struct CountedSender<M> {
    tx: mpsc::UnboundedSender<(M, usize)>,
    queued: Arc<AtomicUsize>,
    written: Arc<Notify>,
}

impl<M> CountedSender<M> {
    /// Queues `message`, counted as `weight` bytes until it is written. Fails when the writer
    /// has ended (the connection is gone).
    pub(crate) fn send(&self, message: M, weight: usize) -> Result<(), M> {
        self.queued.fetch_add(weight, Ordering::AcqRel);
        self.tx.send((message, weight)).map_err(|e| {
            self.queued.fetch_sub(weight, Ordering::AcqRel);
            e.0.0
        })
    }

    /// The bytes queued and not yet handed to QUIC.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Resolves after the writer has written something since it was last awaited.
    pub(crate) async fn written(&self) {
        self.written.notified().await;
    }
}

/// [`spawn_writer`], with the bytes waiting to be written counted.
pub(crate) fn spawn_counted_writer<M>(
    send: quinn::SendStream,
    max_frame: usize,
) -> (
    CountedSender<M>,
    tokio::task::JoinHandle<Result<(), StreamError>>,
)
where
    M: Serialize + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel::<(M, usize)>();
    let queued = Arc::new(AtomicUsize::new(0));
    let written = Arc::new(Notify::new());
    let sender = CountedSender {
        tx,
        queued: Arc::clone(&queued),
        written: Arc::clone(&written),
    };
    let counted: fn(&(M, usize)) -> (&M, usize) = |(m, weight)| (m, *weight);
    let task = tokio::spawn(write_all_queued(
        rx,
        send,
        max_frame,
        counted,
        |_| {},
        move |weight| {
            queued.fetch_sub(weight, Ordering::AcqRel);
            written.notify_one();
        },
    ));
    (sender, task)
}

/// The writer's loop: takes what is queued, several frames per write (up to about
/// [`WRITE_BYTES`], so a queue of large pieces is not copied into one huge buffer), and tells
/// `on_written` the weight of each batch once QUIC has it.
async fn write_all_queued<Q, M, F>(
    mut rx: mpsc::UnboundedReceiver<Q>,
    mut send: quinn::SendStream,
    max_frame: usize,
    parts: fn(&Q) -> (&M, usize),
    merge: fn(&mut Vec<Q>),
    mut on_written: F,
) -> Result<(), StreamError>
where
    M: Serialize,
    F: FnMut(usize),
{
    let mut buf = BytesMut::new();
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        merge(&mut batch);
        let mut weight = 0;
        for item in batch.drain(..) {
            let (message, counted) = parts(&item);
            encode(message, max_frame, &mut buf)?;
            weight += counted;
            if buf.len() >= WRITE_BYTES {
                send.write_all(&buf).await?;
                buf.clear();
            }
        }
        if !buf.is_empty() {
            send.write_all(&buf).await?;
            buf.clear();
        }
        on_written(weight);
    }
    // Every sender is gone: the peer sees a clean end of stream, and the replies already
    // written reach it before the connection goes (for a while at most).
    let _ = send.finish();
    let _ = tokio::time::timeout(FINISH_TIMEOUT, send.stopped()).await;
    Ok(())
}
