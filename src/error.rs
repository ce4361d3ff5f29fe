//! The crate's error types: one enum per layer.

use std::fmt;

/// Returned by [`Source::emit`](crate::Source::emit) and friends once the source is closed.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let source = rivulet::Source::<i32>::new();
/// source.close();
/// assert_eq!(source.emit(1).await, Err(rivulet::Closed));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the source is closed")
    }
}

impl std::error::Error for Closed {}

/// What can end a pipeline driven by [`sink`](crate::StreamzExt::sink) or
/// [`sink_to_list`](crate::StreamzExt::sink_to_list) early.
///
/// ```
/// use rivulet::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let source = Source::new();
/// let handle = source.stream().sink(|x: i32| assert!(x < 3, "too big: {x}"));
/// source.emit(7).await.unwrap();
/// let err = handle.await.unwrap_err();
/// assert!(err.to_string().contains("too big: 7"));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A user closure (or an operator) panicked while the pipeline ran; the message is the
    /// panic's text. Operators of this crate prefix it with their own name.
    #[error("pipeline panicked: {message}")]
    Panicked {
        /// The panic message.
        message: String,
    },
    /// The task driving the pipeline was cancelled (its runtime shut down, or it was aborted).
    #[error("pipeline task was cancelled")]
    Cancelled,
    /// A [`Source`](crate::Source) was closed while an item was being emitted into it.
    #[error(transparent)]
    Closed(#[from] Closed),
    /// A sink that writes somewhere (such as
    /// [`sink_to_textfile`](crate::StreamzExt::sink_to_textfile)) failed to; `what` says what it
    /// was doing.
    #[error("{what}: {source}")]
    Io {
        /// What the sink was doing, with the path involved.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Turns the payload of a caught panic into its message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
