//! `RemoteStream::gather_unordered`: the values brought back in the order they complete.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

use crate::remote::client::{Portable, RemoteStream};
use crate::remote::proto::TaskError;

impl<T: Portable> RemoteStream<T> {
    /// Brings the values back as they complete: a local stream of `Result<T, TaskError>` in
    /// completion order, with at most as many items in flight as the client had task slots
    /// when it was called ([`Client::slots`](crate::Client::slots), at least 1). For another
    /// bound, put [`buffered_unordered(n)`](RemoteStream::buffered_unordered) before
    /// [`gather`](RemoteStream::gather).
    ///
    /// ```
    /// use rivulet::prelude::*;
    ///
    /// #[rivulet::remote]
    /// fn nap(ms: u64) -> u64 {
    ///     std::thread::sleep(std::time::Duration::from_millis(ms));
    ///     ms
    /// }
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // One worker running two tasks at once: the short one finishes first.
    /// let client = rivulet::Client::builder().workers(1).slots(2).build().await?;
    /// let done: Vec<_> = futures::stream::iter(vec![300_u64, 10])
    ///     .scatter(&client)
    ///     .map(nap)
    ///     .gather_unordered()
    ///     .collect()
    ///     .await;
    /// assert_eq!(done, vec![Ok(10), Ok(300)]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn gather_unordered(self) -> GatherUnordered<T> {
        let in_flight = self.client.slots().max(1);
        GatherUnordered {
            items: self
                .items
                .map(|item| async move { item.fetch().await })
                .buffer_unordered(in_flight)
                .boxed(),
        }
    }
}

/// The local stream of values returned by [`RemoteStream::gather_unordered`], in completion
/// order.
///
/// ```
/// use rivulet::prelude::*;
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = rivulet::Client::local(1).await?;
/// let back: rivulet::remote::GatherUnordered<i64> =
///     futures::stream::iter(vec![7_i64]).scatter(&client).gather_unordered();
/// assert_eq!(back.collect::<Vec<_>>().await, vec![Ok(7)]);
/// # Ok(())
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct GatherUnordered<T> {
    items: BoxStream<'static, Result<T, TaskError>>,
}

impl<T> Stream for GatherUnordered<T> {
    type Item = Result<T, TaskError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.items.poll_next_unpin(cx)
    }
}

impl<T> fmt::Debug for GatherUnordered<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatherUnordered").finish_non_exhaustive()
    }
}
