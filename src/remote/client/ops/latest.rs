//! `RemoteStream::latest`: the newest item when the consumer is slow; older ones are released.

use futures::StreamExt;

use crate::StreamzExt;
use crate::remote::client::{Portable, RemoteStream};

impl<T: Portable> RemoteStream<T> {
    /// Pulls the upstream eagerly in a task of its own; when the consumer is slow only the
    /// newest item waits, and the last item is never lost, as [`StreamzExt::latest`] does
    /// (streamz's `latest`). The items skipped are dropped here, which releases their values on
    /// the workers; the timing is local.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let newest: Vec<_> = futures::stream::iter(0..5_i64).scatter(&client).latest().gather().collect().await;
    /// assert_eq!(newest.last(), Some(&Ok(4)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn latest(self) -> RemoteStream<T> {
        let items = StreamzExt::latest(self.items).boxed();
        Self::with(self.client, items)
    }
}
