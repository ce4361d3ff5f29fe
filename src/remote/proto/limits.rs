//! The sizes both sides hold each other to.

use bytes::Bytes;

/// The largest value (its encoding) a client or worker accepts by default: 1 GiB.
pub const DEFAULT_MAX_VALUE: u64 = 1 << 30;

/// The size of the pieces a large value travels in by default: 1 MiB, well under the frame
/// limit, so that other messages interleave with a large value's pieces.
pub const DEFAULT_PIECE: usize = 1 << 20;

/// The largest task result sent along with its reply by default; larger ones wait for a
/// fetch, so that values that stay on the worker for the next task are not copied back for
/// nothing.
pub const DEFAULT_INLINE: usize = 64 << 10;

/// The bytes of values one client may keep on a worker by default: 4 GiB.
pub const DEFAULT_MAX_BYTES_HELD: u64 = 4 << 30;

/// The tasks one client may have unfinished on a worker by default (queued or running).
pub const DEFAULT_MAX_TASKS: usize = 10_000;

/// The bytes of replies a worker queues for one client by default: 16 MiB.
pub const DEFAULT_MAX_UNREAD: usize = 16 << 20;

/// The pieces a value larger than `piece` bytes travels in: each piece's offset and bytes (a
/// slice of `value`, not a copy), in order. `None` for a value that fits in one piece.
///
/// ```
/// use bytes::Bytes;
/// use rivulet::remote::proto::pieces;
///
/// let value = Bytes::from_static(b"abcde");
/// let cut: Vec<(u64, Bytes)> = pieces(&value, 2).unwrap().collect();
/// assert_eq!(cut, vec![(0, "ab".into()), (2, "cd".into()), (4, "e".into())]);
/// assert!(pieces(&value, 5).is_none());
/// ```
pub fn pieces(value: &Bytes, piece: usize) -> Option<impl Iterator<Item = (u64, Bytes)> + '_> {
    let piece = piece.max(1);
    (value.len() > piece).then(|| {
        (0..value.len()).step_by(piece).map(move |start| {
            (
                start as u64,
                value.slice(start..(start + piece).min(value.len())),
            )
        })
    })
}

/// The sizes a connection is held to.
///
/// ```
/// use rivulet::remote::proto::Limits;
///
/// let limits = Limits { max_value: 16 << 20, ..Limits::default() };
/// assert!(limits.piece < limits.max_value as usize);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// The largest value, scattered, made by a task or fetched. Default [`DEFAULT_MAX_VALUE`].
    pub max_value: u64,
    /// The size of the pieces larger values travel in. Default [`DEFAULT_PIECE`].
    pub piece: usize,
    /// The largest task result sent along with its reply. Default [`DEFAULT_INLINE`].
    pub inline: usize,
    /// The bytes of values one client may keep on a worker; past it a value is refused (its
    /// key holds a typed failure instead). Default [`DEFAULT_MAX_BYTES_HELD`].
    pub max_bytes_held: u64,
    /// The tasks one client may have unfinished on a worker; past it a task is refused with a
    /// typed failure. Default [`DEFAULT_MAX_TASKS`].
    pub max_tasks: usize,
    /// The bytes of replies a worker queues for a client that does not read them; past it the
    /// worker reads nothing more from that client until they are written (back-pressure).
    /// Default [`DEFAULT_MAX_UNREAD`].
    pub max_unread: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_value: DEFAULT_MAX_VALUE,
            piece: DEFAULT_PIECE,
            inline: DEFAULT_INLINE,
            max_bytes_held: DEFAULT_MAX_BYTES_HELD,
            max_tasks: DEFAULT_MAX_TASKS,
            max_unread: DEFAULT_MAX_UNREAD,
        }
    }
}
