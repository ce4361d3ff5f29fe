//! `RemoteStream::combine_latest`: the latest item of each side, paired on one worker.

use std::sync::Arc;

use futures::StreamExt;

use super::{Moved, build};
use crate::StreamzExt;
use crate::remote::client::{Portable, RemoteFuture, RemoteStream};
use crate::remote::proto::TaskKind;

impl<T: Portable> RemoteStream<T> {
    /// Pairs the latest item of `self` with the latest of `other`, on every item of either
    /// once both have given one (streamz's `combine_latest`, as [`StreamzExt::combine_latest`]
    /// does it locally). Each pair is one value, built on the worker of the left item (or of
    /// the right one, if the left one's is lost), like [`zip`](RemoteStream::zip)'s; a latest
    /// item brought over for one pair is kept there for the next pairs.
    ///
    /// A pair with a failed item is that item's `Err` (the left one's first); it ends when both
    /// inputs have ended.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let numbers = futures::stream::iter(vec![1_i64]).scatter(&client);
    /// let letters = futures::stream::iter(vec!['a']).scatter(&client);
    /// let pairs: Vec<_> = numbers.combine_latest(letters).gather().collect().await;
    /// assert_eq!(pairs, vec![Ok((1, 'a'))]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn combine_latest<U: Portable>(self, other: RemoteStream<U>) -> RemoteStream<(T, U)> {
        let client = self.client.clone();
        let moved = Arc::new(tokio::sync::Mutex::new(Moved::default()));
        let items = StreamzExt::combine_latest(self.items, other.items)
            .then(move |(left, right): (RemoteFuture<T>, RemoteFuture<U>)| {
                let client = client.clone();
                let moved = Arc::clone(&moved);
                async move {
                    let inputs = [left.value, right.value];
                    let mut moved = moved.lock().await;
                    let pair = build(&client, TaskKind::Zip, &inputs, Some(&mut moved)).await;
                    RemoteFuture::from_shared(pair)
                }
            })
            .boxed();
        Self::with(self.client, items)
    }
}
