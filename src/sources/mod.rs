//! Sources that touch the world: files, directories, sockets, HTTP, subprocesses and clocks.
//!
//! Each is a plain [`futures::Stream`] of `Result<Item, SourceError>` that reads no faster than it
//! is polled (servers read at most a small, documented number of records ahead), keeps memory
//! bounded by a maximum record size ([`DEFAULT_MAX_RECORD_SIZE`] unless set), reports bad input
//! as a typed [`SourceError`] item instead of panicking, and stops its work when dropped (nothing
//! in its `Drop` blocks). Sources with options are builders that are themselves the stream.
//!
//! Records keep their delimiter, as streamz keeps it: `from_textfile` yields `"line\n"`.
//!
//! ```
//! use rivulet::prelude::*;
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("rivulet-doc-sources-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("log.txt");
//! std::fs::write(&path, "a\nb\n")?;
//! let mut lines = rivulet::sources::from_textfile(&path);
//! assert_eq!(lines.next().await.unwrap()?, "a\n");
//! assert_eq!(lines.next().await.unwrap()?, "b\n");
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

use std::path::PathBuf;

mod filenames;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(feature = "nats")]
pub mod nats;
mod periodic;
mod process;
pub(crate) mod record;
mod tcp;
mod textfile;
#[cfg(feature = "websocket")]
pub mod websocket;

pub use filenames::{Filenames, filenames};
#[cfg(feature = "http")]
pub use http::{HttpServer, from_http_server};
pub use periodic::{Periodic, from_periodic};
pub use process::{Process, from_process};
pub use record::DEFAULT_MAX_RECORD_SIZE;
pub use tcp::{TcpSource, from_tcp};
pub use textfile::{CheckpointedTextFile, TextFile, from_textfile};

/// What a source reports instead of an item when the world misbehaves.
///
/// ```
/// let err = rivulet::sources::SourceError::RecordTooLong { max: 4 };
/// assert_eq!(err.to_string(), "a record is longer than the maximum of 4 bytes; it was skipped");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// Reading, opening or binding failed; `what` says what the source was doing.
    #[error("{what}: {source}")]
    Io {
        /// What the source was doing, with the path or address involved.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A record grew past the maximum record size without a delimiter. Its bytes were discarded
    /// up to the next delimiter, and the source goes on with the record after it.
    #[error("a record is longer than the maximum of {max} bytes; it was skipped")]
    RecordTooLong {
        /// The maximum record size in force.
        max: usize,
    },
    /// A record of a text source is not valid UTF-8; it was skipped.
    #[error("the record at byte {position} of {path} is not valid UTF-8; it was skipped")]
    NotUtf8 {
        /// The file the record is in.
        path: PathBuf,
        /// Where the record starts in the file.
        position: u64,
        /// The record's bytes.
        bytes: bytes::Bytes,
    },
    /// A glob pattern given to [`filenames`] is not valid.
    #[error("invalid glob pattern {pattern:?}: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A child process of [`from_process`] ended with a non-zero status (or by a signal); this
    /// is the stream's last item.
    #[error("the process exited with {status}")]
    Exit {
        /// How it ended.
        status: std::process::ExitStatus,
    },
    /// A connector's broker or peer failed (behind the connector features).
    #[error("{what}: {message}")]
    Connector {
        /// The connector and what it was doing.
        what: String,
        /// The client library's message.
        message: String,
    },
}

impl SourceError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        SourceError::Io {
            what: what.into(),
            source,
        }
    }
}

#[track_caller]
pub(crate) fn assert_delimiter(delimiter: &[u8], op: &str) {
    assert!(!delimiter.is_empty(), "{op}: `delimiter` must not be empty");
}

#[track_caller]
pub(crate) fn assert_nonzero_duration(value: std::time::Duration, op: &str, parameter: &str) {
    assert!(
        !value.is_zero(),
        "{op}: `{parameter}` must be at least 1ns, got 0"
    );
}
