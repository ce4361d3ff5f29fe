//! `RemoteStream::union`: the items of two remote streams as they come.

use futures::StreamExt;

use crate::StreamzExt;
use crate::remote::client::{Portable, RemoteStream};

impl<T: Portable> RemoteStream<T> {
    /// The items of `self` and `other` as they come, each where it lives (streamz's `union`).
    /// Neither input starves the other (they take turns being polled first, as
    /// [`StreamzExt::union`] does); it ends when both have ended. A failed item passes as its
    /// own `Err`, the other items are unaffected.
    ///
    /// `other` is a remote stream too: a local one must be [`scatter`](StreamzExt::scatter)ed
    /// first, and a remote one is never passed where a local stream is expected.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let a = futures::stream::iter(vec![1_i64, 3]).scatter(&client);
    /// let b = futures::stream::iter(vec![2_i64, 4]).scatter(&client);
    /// let mut both: Vec<i64> = a
    ///     .union(b)
    ///     .gather()
    ///     .collect::<Vec<_>>()
    ///     .await
    ///     .into_iter()
    ///     .collect::<Result<_, _>>()?;
    /// both.sort();
    /// assert_eq!(both, vec![1, 2, 3, 4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn union(self, other: RemoteStream<T>) -> RemoteStream<T> {
        let items = StreamzExt::union(self.items, other.items).boxed();
        Self::with(self.client, items)
    }
}
