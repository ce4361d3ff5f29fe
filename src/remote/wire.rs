//! Reading and writing framed messages on QUIC streams.
//!
//! Thin async wrappers around [`frame`](crate::remote::frame): the framing logic stays sans-IO
//! and tested there; these only move bytes.
//!
//! ```no_run
//! use rivulet::remote::frame::DEFAULT_MAX_FRAME;
//! use rivulet::remote::protocol::{ClientMessage, Key, Reply, Request};
//! use rivulet::remote::wire::{read_message, write_message, FrameReader};
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

use crate::remote::frame::{FrameDecoder, FrameError, encode};

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
/// [`FrameError::Read`] if the stream or connection fails. After an error the stream is out of
/// step: drop it.
pub async fn read_message<M: DeserializeOwned>(
    recv: &mut quinn::RecvStream,
    reader: &mut FrameReader,
) -> Result<Option<M>, FrameError> {
    loop {
        let needed = reader.decoder.bytes_needed(&reader.partial)?;
        if needed == 0 {
            return reader.decoder.decode(&mut reader.partial);
        }
        // The only await point: quinn consumes no data from the stream unless this completes.
        match recv.read_chunk(needed, true).await? {
            Some(chunk) => reader.partial.extend_from_slice(&chunk.bytes),
            None => return reader.decoder.decode_eof(&mut reader.partial),
        }
    }
}

/// Writes `msg` as one frame on `send`. Does not finish the stream.
///
/// Not cancel-safe: dropping the future may leave part of the frame written.
///
/// # Errors
///
/// Those of [`encode`] (nothing is written then), and [`FrameError::Write`] if the stream or
/// connection fails.
pub async fn write_message<M: Serialize>(
    send: &mut quinn::SendStream,
    msg: &M,
    max: usize,
) -> Result<(), FrameError> {
    let mut buf = BytesMut::new();
    encode(msg, max, &mut buf)?;
    send.write_chunk(buf.freeze()).await?;
    Ok(())
}
