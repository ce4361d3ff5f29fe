//! `RemoteStream::partition`: batches of `n` items, each built as one `Vec` on one worker.

use futures::StreamExt;

use super::build;
use crate::StreamzExt;
use crate::remote::client::{Portable, RemoteFuture, RemoteStream};
use crate::remote::proto::TaskKind;

impl<T: Portable> RemoteStream<T> {
    /// Groups the items into batches of `n`, each built as one `Vec<T>` on one worker (the
    /// one holding most of its items; the others are brought there), the same batches as
    /// [`StreamzExt::partition`] gives: when the upstream ends, an incomplete batch comes out
    /// as one last, shorter batch. A remote function over `Vec<T>` then runs on the whole batch
    /// where it lies (streamz.dask's `partition(n).map(sum)`).
    ///
    /// A batch holding a failed item is that item's `Err` (the first failure, by position); the
    /// other batches are unaffected. A batch is built once its items are pulled, waiting for
    /// those that must be brought over: put [`buffered`](RemoteStream::buffered) after it to
    /// build several at once. A batch whose worker is lost is built again elsewhere.
    ///
    /// # Panics
    /// If `n` is 0.
    ///
    /// ```
    /// use rivulet::prelude::*;
    ///
    /// #[rivulet::remote]
    /// fn total(batch: Vec<i64>) -> i64 {
    ///     batch.iter().sum()
    /// }
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let sums: Vec<_> = futures::stream::iter(0..7_i64)
    ///     .scatter(&client)
    ///     .partition(3)
    ///     .map(total)
    ///     .gather()
    ///     .collect()
    ///     .await;
    /// assert_eq!(sums, vec![Ok(3), Ok(12), Ok(6)]);
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn partition(self, n: usize) -> RemoteStream<Vec<T>> {
        let client = self.client.clone();
        let items = StreamzExt::partition(self.items, n)
            .then(move |batch: Vec<RemoteFuture<T>>| {
                let client = client.clone();
                async move {
                    let inputs: Vec<_> = batch.into_iter().map(|item| item.value).collect();
                    RemoteFuture::from_shared(
                        build(&client, TaskKind::Collect, &inputs, None).await,
                    )
                }
            })
            .boxed();
        Self::with(self.client, items)
    }
}
