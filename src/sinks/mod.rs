//! Sinks that write to the world: text files, and the connector publishers behind their
//! features.
//!
//! ```
//! use rivulet::prelude::*;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("rivulet-doc-sinks-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("numbers.txt");
//! # let _ = std::fs::remove_file(&path);
//! futures::stream::iter(1..=3).sink_to_textfile(&path).await?;
//! assert_eq!(std::fs::read_to_string(&path)?, "1\n2\n3\n");
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(feature = "nats")]
pub mod nats;
mod textfile;
#[cfg(feature = "websocket")]
pub mod websocket;

pub use textfile::TextFileSink;

/// What a publisher (`sinks::kafka`, `sinks::mqtt`, `sinks::nats`, behind their features) reports
/// when the broker does not take a message.
///
/// ```
/// let err = rivulet::sinks::SinkError::Closed;
/// assert_eq!(err.to_string(), "the publisher is closed");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The broker or the connection to it failed; `what` says what the publisher was doing.
    #[error("{what}: {message}")]
    Connector {
        /// The connector and what it was doing.
        what: String,
        /// The client library's message.
        message: String,
    },
    /// A message was sent after the publisher was closed.
    #[error("the publisher is closed")]
    Closed,
}
