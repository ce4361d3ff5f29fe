//! `RemoteStream::flatten`: each remote `Vec` split on its worker into its elements, one key each.

use std::sync::Arc;

use futures::StreamExt;
use serde::de::DeserializeOwned;

use crate::remote::client::future::Lineage;
use crate::remote::client::{Client, Portable, RemoteFuture, RemoteStream, Value};
use crate::remote::proto::{TaskError, TaskErrorKind, TaskKind, read_varint, split_params};

/// The most elements one batch is split into (each becomes a key on the worker).
const MAX_ELEMENTS: u64 = 1 << 20;

impl<T: Portable> RemoteStream<Vec<T>> {
    /// The elements of each remote `Vec`, in order, each its own value on the batch's worker
    /// (streamz's `flatten`, which on a Dask stream fails because a future is not iterable).
    ///
    /// The worker cuts the batch into its elements without knowing `T`: this process finds where
    /// each element starts, from the batch's bytes when they came back with the task that made
    /// it, or else, for a batch built on the workers ([`partition`](RemoteStream::partition),
    /// the windows), from its elements' sizes; only a larger batch made by a function of the
    /// user's, over [`Limits::inline`](crate::remote::proto::Limits::inline), is fetched for
    /// that. So it waits for each batch in input order: put
    /// [`buffered`](RemoteStream::buffered) before it to overlap. An empty batch gives nothing;
    /// a failed batch gives one `Err` item, its failure; a batch of more than 2^20 elements is
    /// one `Err` item too. A lost worker's elements are cut again from the batch, made again.
    ///
    /// ```
    /// use rivulet::prelude::*;
    ///
    /// #[rivulet::remote]
    /// fn inc(x: i64) -> i64 {
    ///     x + 1
    /// }
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let batches = vec![vec![1_i64, 2, 3], vec![], vec![4, 5]];
    /// let out: Vec<_> = futures::stream::iter(batches)
    ///     .scatter(&client)
    ///     .flatten()
    ///     .map(inc)
    ///     .gather()
    ///     .collect()
    ///     .await;
    /// assert_eq!(out, vec![Ok(2), Ok(3), Ok(4), Ok(5), Ok(6)]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn flatten(self) -> RemoteStream<T> {
        let client = self.client.clone();
        let items = self
            .items
            .then(move |batch| split::<T>(client.clone(), batch.value))
            .flat_map(futures::stream::iter)
            .boxed();
        RemoteStream::<Vec<T>>::with(self.client, items)
    }
}

/// The elements of one batch, each a value on the batch's worker.
async fn split<T: DeserializeOwned>(client: Client, batch: Arc<Value>) -> Vec<RemoteFuture<T>> {
    let (batch, status) = batch.settled().await;
    let failed = |error: TaskError| {
        vec![RemoteFuture::from_shared(
            client.failed_value(&batch.link, error).inherit([&batch]),
        )]
    };
    let done = match status {
        Ok(done) => done,
        Err(error) => return failed(error),
    };
    // A batch whose bytes came here has its elements come back with the split too (they are
    // small); a larger one's stay on the worker until something fetches them.
    let small = matches!(done.inline.get(batch.output), Some(Some(_)));
    let found = match done.inline.get(batch.output) {
        Some(Some(bytes)) => cuts::<T>(bytes),
        _ => match cuts_from_sizes(&batch, done.sizes.get(batch.output).copied()) {
            Some(cuts) => Ok(cuts),
            None => match batch.bytes().await {
                Ok(bytes) => cuts::<T>(&bytes),
                Err(error) => return failed(error),
            },
        },
    };
    let cuts = match found {
        Ok(cuts) => cuts,
        Err(error) => return failed(error),
    };
    let elements = cuts.len() - 1;
    if elements == 0 {
        return Vec::new();
    }
    let (outputs, _) = client.submit_task(
        TaskKind::Split,
        &Arc::from(""),
        &split_params(&cuts),
        &[&batch],
        elements,
        small,
    );
    outputs.into_iter().map(RemoteFuture::from_shared).collect()
}

/// Where the elements of a batch built on a worker from values (a `Collect` task) start, from
/// those values' sizes, without the batch's bytes: `None` if it was made another way, an
/// element's size is not known here (it was lost and made again), or the sizes do not add up to
/// the batch's `size`.
fn cuts_from_sizes(batch: &Value, size: Option<u64>) -> Option<Vec<u64>> {
    let inputs = match &*batch.lineage() {
        Lineage::Task {
            kind: TaskKind::Collect,
            inputs,
            ..
        } => inputs.clone(),
        _ => return None,
    };
    let count = inputs.len() as u64;
    if count > MAX_ELEMENTS {
        return None;
    }
    // A `Vec`'s encoding: its length as a varint, then its elements'.
    let mut at = varint_len(count);
    let mut cuts = Vec::with_capacity(inputs.len() + 1);
    cuts.push(at);
    for input in &inputs {
        // Every element is made once the batch is: its status is settled.
        let done = input.status.peek()?.ok()?;
        at = at.checked_add(*done.sizes.get(input.output)?)?;
        cuts.push(at);
    }
    (Some(at) == size).then_some(cuts)
}

/// How many bytes postcard's varint of `n` takes (7 bits a byte).
fn varint_len(n: u64) -> u64 {
    let bits = u64::from(64 - n.leading_zeros()).max(1);
    bits.div_ceil(7)
}

/// Where each element of the encoded `Vec<T>` starts, and where the last one ends.
fn cuts<T: DeserializeOwned>(bytes: &[u8]) -> Result<Vec<u64>, TaskError> {
    let codec = |message: &str| TaskError::new(TaskErrorKind::Codec, format!("flatten: {message}"));
    let (len, prefix) =
        read_varint(bytes).ok_or_else(|| codec("the batch does not start with its length"))?;
    if len > MAX_ELEMENTS {
        return Err(codec(&format!(
            "a batch of {len} elements is over the {MAX_ELEMENTS} flatten splits"
        )));
    }
    let mut cuts = Vec::with_capacity(len.min(bytes.len() as u64) as usize + 1);
    cuts.push(prefix as u64);
    let mut rest = &bytes[prefix..];
    for _ in 0..len {
        let (_, after) = postcard::take_from_bytes::<T>(rest).map_err(|e| TaskError::codec(&e))?;
        rest = after;
        cuts.push((bytes.len() - rest.len()) as u64);
    }
    if !rest.is_empty() {
        return Err(codec("bytes are left after the batch's elements"));
    }
    Ok(cuts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_len_is_postcards() {
        for n in [0_usize, 1, 127, 128, 16_383, 16_384, 1 << 20, (1 << 21) + 5] {
            let encoded = postcard::to_allocvec(&vec![(); n]).unwrap();
            assert_eq!(varint_len(n as u64), encoded.len() as u64, "{n}");
        }
        assert_eq!(varint_len(u64::MAX), 10);
    }

    #[test]
    fn cuts_find_each_element() {
        let batch = vec!["a".to_owned(), String::new(), "x".repeat(200)];
        let bytes = postcard::to_allocvec(&batch).unwrap();
        let found = cuts::<String>(&bytes).unwrap();
        assert_eq!(found, vec![1, 3, 4, 4 + 2 + 200]);
        for (i, w) in found.windows(2).enumerate() {
            let element: String =
                postcard::from_bytes(&bytes[w[0] as usize..w[1] as usize]).unwrap();
            assert_eq!(element, batch[i]);
        }
        assert_eq!(cuts::<String>(&[0]).unwrap(), vec![1]);
        assert!(cuts::<String>(&[2, 1, b'a']).is_err(), "one element short");
        assert!(cuts::<u8>(&[1, 5, 6]).is_err(), "a byte left over");
        assert!(
            cuts::<()>(&[0xff, 0xff, 0xff, 0xff, 0x7f]).is_err(),
            "too many elements"
        );
    }
}
