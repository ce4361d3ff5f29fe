//! `RemoteStream::sliding_window`: the last `n` items after each item, as one `Vec` on one worker.

use std::sync::Arc;

use futures::StreamExt;

use super::{Moved, build};
use crate::StreamzExt;
use crate::remote::client::{Portable, RemoteFuture, RemoteStream};
use crate::remote::proto::TaskKind;

impl<T: Portable> RemoteStream<T> {
    /// After each item, the last `n` items, oldest first, built as one `Vec<T>` on one worker:
    /// the same windows as [`StreamzExt::sliding_window`] gives. With `partial` the first
    /// `n - 1` items give the shorter windows they make; without it the first window comes with
    /// the `n`-th item.
    ///
    /// Each window is its own value. An item brought to another worker for one window is kept
    /// there for the next windows it is in, so it travels once. A window holding a failed item
    /// is that item's `Err` (the first failure, by position): with an item that failed, the `n`
    /// windows it is in are `Err`s, the others are not. A window whose worker is lost is built
    /// again elsewhere.
    ///
    /// # Panics
    /// If `n` is 0.
    ///
    /// ```
    /// use rivulet::prelude::*;
    ///
    /// #[rivulet::remote]
    /// fn total(window: Vec<i64>) -> i64 {
    ///     window.iter().sum()
    /// }
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let sums: Vec<_> = futures::stream::iter(1..=4_i64)
    ///     .scatter(&client)
    ///     .sliding_window(2, false)
    ///     .map(total)
    ///     .gather()
    ///     .collect()
    ///     .await;
    /// assert_eq!(sums, vec![Ok(3), Ok(5), Ok(7)]);
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn sliding_window(self, n: usize, partial: bool) -> RemoteStream<Vec<T>> {
        let client = self.client.clone();
        let moved = Arc::new(tokio::sync::Mutex::new(Moved::default()));
        let items = StreamzExt::sliding_window(self.items, n, partial)
            .then(move |window: Vec<RemoteFuture<T>>| {
                let client = client.clone();
                let moved = Arc::clone(&moved);
                async move {
                    let inputs: Vec<_> = window.into_iter().map(|item| item.value).collect();
                    let mut moved = moved.lock().await;
                    let built = build(&client, TaskKind::Collect, &inputs, Some(&mut moved)).await;
                    RemoteFuture::from_shared(built)
                }
            })
            .boxed();
        Self::with(self.client, items)
    }
}
