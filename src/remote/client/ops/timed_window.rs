//! `RemoteStream::timed_window`: what arrived in each interval, as one `Vec` on one worker.

use std::time::Duration;

use futures::StreamExt;

use super::build;
use crate::StreamzExt;
use crate::remote::client::{Portable, RemoteFuture, RemoteStream};
use crate::remote::proto::TaskKind;

impl<T: Portable> RemoteStream<T> {
    /// A `Vec<T>` of the items that arrived in each interval of `dur` (empty ones too), built as
    /// one value on one worker; the intervals are those of [`StreamzExt::timed_window`] (local
    /// timing: aligned to this call, and what arrived since the last window comes out when the
    /// upstream ends). A window holding a failed item is that item's `Err` (the first failure,
    /// by position). An empty window is an empty `Vec` kept on the least loaded worker.
    ///
    /// # Panics
    /// If `dur` is zero.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use std::time::Duration;
    ///
    /// #[rivulet::remote]
    /// fn count(window: Vec<i64>) -> usize {
    ///     window.len()
    /// }
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let counts: Vec<_> = futures::stream::iter(0..5_i64)
    ///     .scatter(&client)
    ///     .timed_window(Duration::from_secs(60))
    ///     .map(count)
    ///     .gather()
    ///     .collect()
    ///     .await;
    /// // The upstream ended before the first interval did: one window with every item.
    /// assert_eq!(counts, vec![Ok(5)]);
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn timed_window(self, dur: Duration) -> RemoteStream<Vec<T>> {
        let client = self.client.clone();
        let items = StreamzExt::timed_window(self.items, dur)
            .then(move |window: Vec<RemoteFuture<T>>| {
                let client = client.clone();
                async move {
                    let inputs: Vec<_> = window.into_iter().map(|item| item.value).collect();
                    RemoteFuture::from_shared(
                        build(&client, TaskKind::Collect, &inputs, None).await,
                    )
                }
            })
            .boxed();
        Self::with(self.client, items)
    }
}
