//! `RemoteStream::buffered_unordered`: up to `n` items in flight, passed on as they complete.

use futures::StreamExt;

use crate::remote::client::{Portable, RemoteFuture, RemoteStream};

impl<T: Portable> RemoteStream<T> {
    /// Keeps up to `n` items in flight and passes each on once its value exists on its worker
    /// (or its task failed), in completion order rather than input order (Dask's
    /// `as_completed`, bounded by `n`). Nothing is fetched: the values stay where they are. An
    /// item whose worker is lost is made again elsewhere before it is passed on.
    ///
    /// # Panics
    /// If `n` is 0.
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
    ///     .buffered_unordered(2)
    ///     .gather()
    ///     .collect()
    ///     .await;
    /// assert_eq!(done, vec![Ok(10), Ok(300)]);
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn buffered_unordered(self, n: usize) -> RemoteStream<T> {
        crate::util::assert_nonzero(n, "buffered_unordered", "n");
        let items = self
            .items
            .map(|item| async move {
                // The value that now stands for the item (made again if its worker was lost).
                let (value, _) = item.value.settled().await;
                RemoteFuture::from_shared(value)
            })
            .buffer_unordered(n)
            .boxed();
        Self::with(self.client, items)
    }
}
