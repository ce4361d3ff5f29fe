//! Length-delimited framing of protocol messages, without any I/O (sans-IO).
//!
//! A frame is a `u32` big-endian length followed by that many bytes: the postcard encoding of
//! one message. This is the layout of [`tokio_util::codec::LengthDelimitedCodec`] with a `u32`
//! length field, so either side can use that codec on a byte stream; the decoder is written out
//! here because it must tell the length of an oversized frame, keep no state between frames
//! (so that a reader never takes more bytes from a stream than one frame holds), and be easy to
//! fuzz (see `fuzz/`). The transport layer drives it over QUIC streams.
//!
//! ```
//! use bytes::BytesMut;
//! use rivulet::remote::proto::{encode, FrameDecoder, DEFAULT_MAX_FRAME};
//! use rivulet::remote::proto::{ClientMessage, Key};
//!
//! let mut buf = BytesMut::new();
//! encode(&ClientMessage::Release(vec![Key(1), Key(2)]), DEFAULT_MAX_FRAME, &mut buf).unwrap();
//! encode(&ClientMessage::Release(vec![]), DEFAULT_MAX_FRAME, &mut buf).unwrap();
//!
//! let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME);
//! assert_eq!(decoder.decode(&mut buf).unwrap(), Some(ClientMessage::Release(vec![Key(1), Key(2)])));
//! assert_eq!(decoder.decode(&mut buf).unwrap(), Some(ClientMessage::Release(vec![])));
//! assert_eq!(decoder.decode::<ClientMessage>(&mut buf).unwrap(), None);
//! ```

use bytes::{Buf, BufMut, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest frame body accepted by default: 64 MiB.
///
/// Values travel inside frames, so this bounds the size of one encoded value; a peer announcing
/// a longer frame is refused before any of its body is buffered.
pub const DEFAULT_MAX_FRAME: usize = 64 << 20;

/// The size of the length prefix in front of every frame.
pub const HEADER_LEN: usize = 4;

/// How much buffer space [`FrameDecoder::decode`] reserves at most for a frame it is waiting for,
/// so that a peer announcing a large frame and then sending nothing costs little memory.
const RESERVE_STEP: usize = 64 << 10;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The frame's body is longer than the limit (announced by a peer, or produced by
    /// [`encode`]). The stream cannot be resynchronised: close it.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The length of the body.
        len: usize,
        /// The limit it exceeds.
        max: usize,
    },
    /// The frame's body is not the postcard encoding of the expected message. The frame was
    /// consumed, but a peer that sends one is broken: close the stream.
    #[error("malformed message: {0}")]
    Malformed(#[source] postcard::Error),
    /// The frame's body holds a complete message followed by bytes that belong to none.
    #[error("{extra} bytes left over after the message in a frame")]
    TrailingBytes {
        /// How many bytes followed the message.
        extra: usize,
    },
    /// The message could not be encoded (its `Serialize` implementation failed).
    #[error("cannot encode message: {0}")]
    Encode(#[source] postcard::Error),
    /// The stream ended in the middle of a frame.
    #[error("stream ended in the middle of a frame: {received} of {expected} bytes received")]
    Truncated {
        /// The bytes of the frame known so far: the header, or the header and the body.
        expected: usize,
        /// The bytes of the frame that arrived.
        received: usize,
    },
}

/// Appends the frame of `msg` (length prefix and postcard encoding) to `dst`.
///
/// On error `dst` is left as it was.
///
/// # Errors
///
/// [`FrameError::TooLarge`] if the encoding is longer than `max` (or than `u32::MAX`), and
/// [`FrameError::Encode`] if `msg` cannot be serialized.
///
/// ```
/// use bytes::BytesMut;
/// use rivulet::remote::proto::{encode, FrameError};
///
/// let mut buf = BytesMut::new();
/// encode(&7u32, 16, &mut buf).unwrap();
/// assert_eq!(&buf[..], &[0, 0, 0, 1, 7]);
///
/// let too_long = vec![0u8; 100];
/// assert!(matches!(encode(&too_long, 16, &mut buf), Err(FrameError::TooLarge { len: 101, max: 16 })));
/// assert_eq!(buf.len(), 5);
/// ```
pub fn encode<M: Serialize>(msg: &M, max: usize, dst: &mut BytesMut) -> Result<(), FrameError> {
    let start = dst.len();
    dst.put_u32(0);
    // Serializing straight into `dst` avoids an intermediate Vec; the length is patched after.
    if let Err(e) = postcard::to_io(msg, (&mut *dst).writer()) {
        dst.truncate(start);
        return Err(FrameError::Encode(e));
    }
    let len = dst.len() - start - HEADER_LEN;
    let limit = max.min(u32::MAX as usize);
    if len > limit {
        dst.truncate(start);
        return Err(FrameError::TooLarge { len, max: limit });
    }
    // Lossless: `len <= limit <= u32::MAX`.
    let prefix = (len as u32).to_be_bytes();
    dst[start..start + HEADER_LEN].copy_from_slice(&prefix);
    Ok(())
}

/// Splits a byte stream into frames and decodes their messages.
///
/// The decoder keeps no state between frames: [`decode`](Self::decode) leaves a partial frame in
/// the buffer until the rest arrives, so the caller may feed bytes in any chunking.
///
/// ```
/// use bytes::BytesMut;
/// use rivulet::remote::proto::{encode, FrameDecoder};
///
/// let mut frame = BytesMut::new();
/// encode(&"hello".to_string(), 1024, &mut frame).unwrap();
///
/// let mut decoder = FrameDecoder::new(1024);
/// let mut buf = BytesMut::new();
/// let (first, rest) = frame.split_at(3);
/// buf.extend_from_slice(first);
/// assert_eq!(decoder.decode::<String>(&mut buf).unwrap(), None);
/// buf.extend_from_slice(rest);
/// assert_eq!(decoder.decode::<String>(&mut buf).unwrap(), Some("hello".to_string()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDecoder {
    max: usize,
}

impl Default for FrameDecoder {
    /// A decoder with the limit [`DEFAULT_MAX_FRAME`].
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl FrameDecoder {
    /// A decoder that refuses frames whose body is longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        Self { max }
    }

    /// The largest frame body this decoder accepts.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Takes the next complete frame from the front of `src` and decodes its message.
    ///
    /// Returns `Ok(None)` when `src` holds no complete frame yet (it is left untouched then).
    ///
    /// # Errors
    ///
    /// [`FrameError::TooLarge`] as soon as a length prefix above the limit is seen, before any
    /// of the body is buffered; [`FrameError::Malformed`] or [`FrameError::TrailingBytes`] if the
    /// body is not exactly one message (the frame is consumed then). After an error the stream
    /// should be closed: the peer is broken or hostile.
    pub fn decode<M: DeserializeOwned>(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<M>, FrameError> {
        match self.decode_body(src)? {
            Some(body) => decode_exact(&body).map(Some),
            None => Ok(None),
        }
    }

    /// Takes the body of the next complete frame from the front of `src`, undecoded, for a
    /// reader that decodes it in steps (a worker checks a hello's proof before it decodes the
    /// rest). `Ok(None)` while no frame is complete.
    ///
    /// # Errors
    ///
    /// [`FrameError::TooLarge`] as for [`decode`](Self::decode).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use rivulet::remote::proto::{encode, FrameDecoder};
    ///
    /// let mut buf = BytesMut::new();
    /// encode(&7u8, 16, &mut buf).unwrap();
    /// assert_eq!(&FrameDecoder::new(16).decode_body(&mut buf).unwrap().unwrap()[..], &[7]);
    /// ```
    pub fn decode_body(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        let Some(len) = self.frame_len(src)? else {
            return Ok(None);
        };
        let total = HEADER_LEN + len;
        if src.len() < total {
            // Grow the buffer for what is coming, but in steps: the length is the peer's word.
            src.reserve((total - src.len()).min(RESERVE_STEP));
            return Ok(None);
        }
        src.advance(HEADER_LEN);
        Ok(Some(src.split_to(len)))
    }

    /// Like [`decode`](Self::decode), for when the stream has ended: bytes left that do not make
    /// a whole frame are an error rather than a reason to wait.
    ///
    /// Returns `Ok(None)` once `src` is empty.
    ///
    /// # Errors
    ///
    /// Those of [`decode`](Self::decode), and [`FrameError::Truncated`] if `src` holds part of a
    /// frame.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use rivulet::remote::proto::{FrameDecoder, FrameError};
    ///
    /// let mut buf = BytesMut::from(&[0u8, 0, 0, 9, 1, 2][..]);
    /// let err = FrameDecoder::default().decode_eof::<u32>(&mut buf).unwrap_err();
    /// assert!(matches!(err, FrameError::Truncated { expected: 13, received: 6 }));
    /// ```
    pub fn decode_eof<M: DeserializeOwned>(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<M>, FrameError> {
        if let Some(msg) = self.decode(src)? {
            return Ok(Some(msg));
        }
        if src.is_empty() {
            return Ok(None);
        }
        let expected = match self.frame_len(src)? {
            Some(len) => HEADER_LEN + len,
            None => HEADER_LEN,
        };
        Err(FrameError::Truncated {
            expected,
            received: src.len(),
        })
    }

    /// How many more bytes `src` needs before [`decode`](Self::decode) can return a message:
    /// the rest of the header, or the rest of the frame once the header is known. Zero when a
    /// whole frame is there.
    ///
    /// A reader that takes no more than this from a stream never reads past the current frame,
    /// so it needs to keep no buffer between messages.
    ///
    /// # Errors
    ///
    /// [`FrameError::TooLarge`] if the header announces a frame above the limit.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use rivulet::remote::proto::FrameDecoder;
    ///
    /// let decoder = FrameDecoder::new(100);
    /// assert_eq!(decoder.bytes_needed(&BytesMut::new()).unwrap(), 4);
    /// assert_eq!(decoder.bytes_needed(&BytesMut::from(&[0u8, 0, 0, 10, 1][..])).unwrap(), 9);
    /// ```
    pub fn bytes_needed(&self, src: &BytesMut) -> Result<usize, FrameError> {
        Ok(match self.frame_len(src)? {
            Some(len) => (HEADER_LEN + len).saturating_sub(src.len()),
            None => HEADER_LEN - src.len(),
        })
    }

    /// The body length announced by the header at the front of `src`, checked against the
    /// limit; `None` while the header is incomplete.
    fn frame_len(&self, src: &[u8]) -> Result<Option<usize>, FrameError> {
        let Some(header) = src.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        // A u32 always fits in usize on the 32- and 64-bit targets quinn supports.
        let len = u32::from_be_bytes(*header) as usize;
        if len > self.max {
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        Ok(Some(len))
    }
}

/// Decodes `bytes` as exactly one `M`: bytes left over are an error, not ignored.
///
/// # Errors
///
/// [`FrameError::Malformed`] if `bytes` do not start with an `M`, and
/// [`FrameError::TrailingBytes`] if more follows it.
///
/// ```
/// use rivulet::remote::proto::{decode_exact, FrameError};
///
/// assert_eq!(decode_exact::<u8>(&[7]).unwrap(), 7);
/// assert!(matches!(decode_exact::<u8>(&[7, 0]), Err(FrameError::TrailingBytes { extra: 1 })));
/// ```
pub fn decode_exact<M: DeserializeOwned>(bytes: &[u8]) -> Result<M, FrameError> {
    match postcard::take_from_bytes::<M>(bytes) {
        Ok((msg, [])) => Ok(msg),
        Ok((_, rest)) => Err(FrameError::TrailingBytes { extra: rest.len() }),
        Err(e) => Err(FrameError::Malformed(e)),
    }
}
