//! `RemoteStream::unique`: drops the items whose remote key was the key of an earlier item.

use std::collections::HashSet;
use std::hash::Hash;

use futures::StreamExt;

use crate::remote::client::stream::task_function;
use crate::remote::client::{Portable, RemoteFuture, RemoteStream};
use crate::remote::proto::TaskKind;
use crate::remote::registry::RemoteFn;

impl<T: Portable> RemoteStream<T> {
    /// Drops every item whose key, `key_fn(item)` run on the item's worker, was the key of an
    /// earlier item (streamz's `unique` with `key=`, as [`StreamzExt::unique_by`](crate::StreamzExt::unique_by)
    /// does locally). Only the keys come here; the items stay where they are.
    ///
    /// It remembers every distinct key for the life of the stream. It must know each key before
    /// it passes an item on, so it waits for the keys in input order: put
    /// [`buffered`](RemoteStream::buffered) before it to overlap. An item that failed, or whose
    /// key function failed, passes as its `Err` (and remembers no key).
    ///
    /// ```
    /// use rivulet::prelude::*;
    ///
    /// #[rivulet::remote]
    /// fn parity(x: i64) -> i64 {
    ///     x % 2
    /// }
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let firsts: Vec<_> = futures::stream::iter(vec![1_i64, 3, 2, 5, 4])
    ///     .scatter(&client)
    ///     .unique(parity)
    ///     .gather()
    ///     .collect()
    ///     .await;
    /// assert_eq!(firsts, vec![Ok(1), Ok(2)]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn unique<F>(self, key_fn: F) -> RemoteStream<T>
    where
        F: RemoteFn<Input = T>,
        F::Output: Hash + Eq,
    {
        let client = self.client.clone();
        let (function, params) = task_function(&key_fn);
        let keyed = self.items.then(move |item: RemoteFuture<T>| {
            let key = match &params {
                Ok(params) => {
                    let (mut outputs, _) = client.submit_task(
                        TaskKind::Map,
                        &function,
                        params,
                        &[&item.value],
                        1,
                        true,
                    );
                    Ok(RemoteFuture::<F::Output>::from_shared(
                        outputs.swap_remove(0),
                    ))
                }
                Err(error) => Err(error.clone()),
            };
            async move {
                let key = match key {
                    Ok(key) => key.fetch().await,
                    Err(error) => Err(error),
                };
                (item, key)
            }
        });
        let client = self.client.clone();
        let mut seen: HashSet<F::Output> = HashSet::new();
        let items = keyed
            .filter_map(move |(item, key)| {
                let kept = match key {
                    Ok(key) => seen.insert(key).then_some(item),
                    // The item's own failure, or its key function's: it passes as that `Err`.
                    Err(error) => Some(RemoteFuture::from_shared(
                        client
                            .failed_value(&item.value.link, error)
                            .inherit([&item.value]),
                    )),
                };
                futures::future::ready(kept)
            })
            .boxed();
        Self::with(self.client, items)
    }
}
