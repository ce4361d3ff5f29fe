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

use tokio::sync::mpsc;

use crate::remote::proto::{FrameDecoder, FrameError, encode};

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

/// A receive stream with its frame-reading state, read one message at a time.
#[derive(Debug)]
pub(crate) struct MessageReader {
    recv: quinn::RecvStream,
    state: FrameReader,
}

impl MessageReader {
    pub(crate) fn new(recv: quinn::RecvStream, max_frame: usize) -> Self {
        MessageReader {
            recv,
            state: FrameReader::new(max_frame),
        }
    }

    /// The next message, or `None` at a clean end of the stream.
    pub(crate) async fn next<M: DeserializeOwned>(&mut self) -> Result<Option<M>, StreamError> {
        read_message(&mut self.recv, &mut self.state).await
    }
}

/// Spawns the task that writes queued messages to `send`, several frames per write. It ends (and
/// finishes the stream) when every sender is dropped, or at the first write error.
pub(crate) fn spawn_writer<M>(
    mut send: quinn::SendStream,
    max_frame: usize,
) -> (
    mpsc::UnboundedSender<M>,
    tokio::task::JoinHandle<Result<(), StreamError>>,
)
where
    M: Serialize + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<M>();
    let task = tokio::spawn(async move {
        let mut buf = BytesMut::new();
        let mut batch = Vec::with_capacity(WRITE_BATCH);
        while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
            for message in batch.drain(..) {
                encode(&message, max_frame, &mut buf)?;
            }
            send.write_all(&buf).await?;
            buf.clear();
        }
        // Every sender is gone: the peer sees a clean end of stream.
        let _ = send.finish();
        Ok(())
    });
    (tx, task)
}
