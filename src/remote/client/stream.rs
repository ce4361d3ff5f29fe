//! `RemoteStream<T>`: a stream of values that live on workers.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Client;
use super::future::{RemoteFuture, Value};
use crate::LocalStream;
use crate::StreamzExt;
use crate::remote::proto::TaskKind;
use crate::remote::proto::{TaskError, TaskErrorKind};
use crate::remote::registry::RemoteFn;
use crate::{Ack, Acked};

/// What a value must be to travel to a worker and back.
pub trait Portable: Serialize + DeserializeOwned + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Send + 'static> Portable for T {}

/// What [`scatter`](crate::StreamzExt::scatter) takes: a [`Portable`] value, or an
/// [`Acked`] one, whose value is sent and whose [`Ack`] stays here with the item (see
/// [`RemoteStream::gather_acked`]).
pub trait Scatterable: Send + 'static {
    /// What goes to the worker.
    type Value: Portable;

    /// The value, and the item's acknowledgement if it has one.
    fn into_parts(self) -> (Self::Value, Option<Ack>);
}

impl<T: Portable> Scatterable for T {
    type Value = T;

    fn into_parts(self) -> (T, Option<Ack>) {
        (self, None)
    }
}

impl<T: Portable> Scatterable for Acked<T> {
    type Value = T;

    fn into_parts(self) -> (T, Option<Ack>) {
        let (value, ack) = Acked::into_parts(self);
        (value, Some(ack))
    }
}

/// A stream of values that live on workers, made by [`scatter`](crate::StreamzExt::scatter).
///
/// It is **not** a [`futures::Stream`]: its items are handles to values elsewhere, and the
/// compiler keeps them apart from local values. Its own operators run on the workers
/// ([`map`](RemoteStream::map), [`retain`](RemoteStream::retain),
/// [`accumulate`](RemoteStream::accumulate), [`zip`](RemoteStream::zip));
/// [`buffered`](RemoteStream::buffered) keeps several items in flight; [`gather`](RemoteStream::gather)
/// brings the values back as a local stream, in input order. streamz.dask's other operators
/// are here too: windows built as one value on one worker
/// ([`partition`](RemoteStream::partition), [`sliding_window`](RemoteStream::sliding_window),
/// [`timed_window`](RemoteStream::timed_window)) and [`flatten`](RemoteStream::flatten), joins
/// ([`union`](RemoteStream::union), [`combine_latest`](RemoteStream::combine_latest)),
/// [`unique`](RemoteStream::unique), local timing ([`delay`](RemoteStream::delay),
/// [`rate_limit`](RemoteStream::rate_limit), [`latest`](RemoteStream::latest)), and completion
/// order ([`buffered_unordered`](RemoteStream::buffered_unordered),
/// [`gather_unordered`](RemoteStream::gather_unordered)).
///
/// Passing it where a local stream is expected does not compile, and the message says what
/// to do (streamz's documented gotcha, caught by the type system):
///
/// ```compile_fail
/// use rivulet::prelude::*;
/// # async fn f(client: rivulet::Client) {
/// let local = futures::stream::iter(vec![1_i64, 2]);
/// let remote = futures::stream::iter(vec![3_i64, 4]).scatter(&client);
/// let joined = local.combine_latest(remote); // error: `RemoteStream<i64>` is not a local stream of values
/// # }
/// ```
///
/// nor does a local-only operator:
///
/// ```compile_fail
/// use rivulet::prelude::*;
/// # async fn f(client: rivulet::Client) {
/// let remote = futures::stream::iter(vec![1_i64, 2]).scatter(&client);
/// remote.sink(|x| println!("{x}")); // error: call `.gather()` first
/// # }
/// ```
#[must_use = "remote streams do nothing unless gathered (or turned into futures) and polled"]
pub struct RemoteStream<T> {
    pub(super) items: BoxStream<'static, RemoteFuture<T>>,
    pub(super) client: Client,
}

impl<T> fmt::Debug for RemoteStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteStream")
            .field("type", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}

/// A remote function as tasks name it: its registered name and its encoded value (parameters),
/// encoded once for every task that runs it.
pub(super) fn task_function<F: RemoteFn>(f: &F) -> (Arc<str>, Result<Bytes, TaskError>) {
    let params = postcard::to_allocvec(f)
        .map(Bytes::from)
        .map_err(|error| TaskError::codec(&error));
    (Arc::from(F::NAME), params)
}

/// How many times a retain predicate is asked again after its worker was lost.
const RETAIN_ATTEMPTS: usize = 8;

impl<T: Portable> RemoteStream<T> {
    pub(crate) fn scatter<S>(stream: S, client: &Client) -> Self
    where
        S: LocalStream + Send + 'static,
        S::Item: Scatterable<Value = T>,
    {
        let scattering = client.clone();
        RemoteStream {
            items: stream
                .map(move |item| {
                    let (x, ack) = item.into_parts();
                    let handle = scattering.scatter_lazily(x);
                    if let Some(ack) = ack {
                        let _ = handle.value.acks.set(vec![ack]);
                    }
                    handle
                })
                .boxed(),
            client: client.clone(),
        }
    }

    /// A stream of the same client with other items.
    pub(super) fn with<U>(
        client: Client,
        items: BoxStream<'static, RemoteFuture<U>>,
    ) -> RemoteStream<U> {
        RemoteStream { items, client }
    }

    /// Applies the remote function `f` to each item, on the worker that holds it. Each task is
    /// submitted when the item is pulled, without waiting for its result.
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
    /// let out: Vec<_> = futures::stream::iter(0..3).scatter(&client).map(inc).gather().collect().await;
    /// assert_eq!(out, vec![Ok(1), Ok(2), Ok(3)]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn map<F>(self, f: F) -> RemoteStream<F::Output>
    where
        F: RemoteFn<Input = T>,
    {
        let RemoteStream {
            items,
            client: owner,
        } = self;
        let client = owner.clone();
        let (function, params) = task_function(&f);
        let items = items
            .map(move |input| {
                let value = match &params {
                    Ok(params) => {
                        let (mut outputs, _) = client.submit_task(
                            TaskKind::Map,
                            &function,
                            params,
                            &[&input.value],
                            1,
                            true,
                        );
                        outputs.swap_remove(0)
                    }
                    Err(error) => client
                        .failed_value(&input.value.link, error.clone())
                        .inherit([&input.value]),
                };
                RemoteFuture::from_shared(value)
            })
            .boxed();
        Self::with(owner, items)
    }

    /// Keeps the items for which the remote predicate `f` is true.
    ///
    /// It must know each verdict before passing an item on, so it waits for the predicates in
    /// input order: put [`buffered`](RemoteStream::buffered) before it to overlap them. An item
    /// that already failed passes untouched, as its `Err`.
    ///
    /// ```
    /// use rivulet::prelude::*;
    ///
    /// #[rivulet::remote]
    /// fn is_even(x: i64) -> bool {
    ///     x % 2 == 0
    /// }
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let out: Vec<_> = futures::stream::iter(0..5).scatter(&client).retain(is_even).gather().collect().await;
    /// assert_eq!(out, vec![Ok(0), Ok(2), Ok(4)]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn retain<F>(self, f: F) -> RemoteStream<T>
    where
        F: RemoteFn<Input = T, Output = bool>,
    {
        let RemoteStream {
            items,
            client: owner,
        } = self;
        let client = owner.clone();
        let (function, params) = task_function(&f);
        let items = items
            .then(move |input| {
                let (client, function, params) =
                    (client.clone(), Arc::clone(&function), params.clone());
                async move {
                    retain_one(&client, &function, params, input.value)
                        .await
                        .map(RemoteFuture::from_shared)
                }
            })
            .filter_map(futures::future::ready)
            .boxed();
        Self::with(owner, items)
    }

    /// A running accumulation on a worker: `f(state, x) = (state', y)` emits `y`; the state
    /// stays on one worker (the first item's), items on other workers are brought to it.
    ///
    /// ```
    /// use rivulet::prelude::*;
    ///
    /// #[rivulet::remote]
    /// fn running_sum(total: i64, x: i64) -> (i64, i64) {
    ///     (total + x, total + x)
    /// }
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let out: Vec<_> = futures::stream::iter(0..4)
    ///     .scatter(&client)
    ///     .accumulate(0, running_sum)
    ///     .gather()
    ///     .collect()
    ///     .await;
    /// assert_eq!(out, vec![Ok(0), Ok(1), Ok(3), Ok(6)]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn accumulate<S, U, F>(self, init: S, f: F) -> RemoteStream<U>
    where
        S: Portable + Sync,
        U: Portable,
        F: RemoteFn<Input = (S, T), Output = (S, U)>,
    {
        let RemoteStream {
            items,
            client: owner,
        } = self;
        let client = owner.clone();
        let (function, params) = task_function(&f);
        let init = postcard::to_allocvec(&init)
            .map(Bytes::from)
            .map_err(|error| TaskError::codec(&error));
        let state: Arc<tokio::sync::Mutex<Option<Arc<Value>>>> = Arc::default();
        let items = items
            .then(move |input| {
                let client = client.clone();
                let function = Arc::clone(&function);
                let params = params.clone();
                let init = init.clone();
                let state = Arc::clone(&state);
                async move {
                    let mut state = state.lock().await;
                    let current = match state.take() {
                        Some(current) => current,
                        None => match init {
                            Ok(bytes) => client.scatter_bytes(&input.value.link, bytes),
                            Err(error) => client.failed_value(&input.value.link, error),
                        },
                    };
                    let params = match params {
                        Ok(params) => params,
                        Err(error) => {
                            *state = Some(current);
                            return RemoteFuture::from_shared(
                                client
                                    .failed_value(&input.value.link, error)
                                    .inherit([&input.value]),
                            );
                        }
                    };
                    let item = client.move_to(&input.value, &current.link).await;
                    let (mut outputs, _) = client.submit_task(
                        TaskKind::Accumulate,
                        &function,
                        &params,
                        &[&current, &item],
                        2,
                        true,
                    );
                    let emitted = outputs.swap_remove(1);
                    *state = Some(outputs.swap_remove(0));
                    RemoteFuture::from_shared(emitted)
                }
            })
            .boxed();
        Self::with(owner, items)
    }

    /// Pairs the items of two remote streams in order; each pair is one value on the worker
    /// of the larger item (the other is brought there, worker to worker, if it lives elsewhere). The side that is
    /// ahead is buffered, as [`zip_with`](crate::StreamzExt::zip_with) does.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let numbers = futures::stream::iter(vec![1_i64, 2]).scatter(&client);
    /// let letters = futures::stream::iter(vec!['a', 'b']).scatter(&client);
    /// let pairs: Vec<_> = numbers.zip(letters).gather().collect().await;
    /// assert_eq!(pairs, vec![Ok((1, 'a')), Ok((2, 'b'))]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn zip<U: Portable>(self, other: RemoteStream<U>) -> RemoteStream<(T, U)> {
        let RemoteStream {
            items,
            client: owner,
        } = self;
        let client = owner.clone();
        let items = items
            .zip_with(other.items)
            .then(move |(left, right)| {
                let client = client.clone();
                async move {
                    // The pair is made where most of its bytes are.
                    let (left, right) = client.colocate(&left.value, &right.value).await;
                    let (mut outputs, _) = client.submit_task(
                        TaskKind::Zip,
                        &Arc::from(""),
                        &Bytes::new(),
                        &[&left, &right],
                        1,
                        true,
                    );
                    RemoteFuture::from_shared(outputs.swap_remove(0))
                }
            })
            .boxed();
        Self::with(owner, items)
    }

    /// Keeps exactly `n` items in flight: it pulls its upstream in its own task, as
    /// [`buffer`](crate::StreamzExt::buffer) does, so the remote stages above it overlap, and
    /// sends an item's tasks once one of its `n` places is free. An item keeps its place until
    /// its task has answered (not until it is gathered), so at most `n` of its tasks run or
    /// wait on the workers at once, however slowly the results are taken: size `n` to protect
    /// a resource. With a rendezvous [`Source`](crate::Source) upstream, `n` emits return
    /// ahead of the results (the puller holds one more item, its tasks not sent yet).
    ///
    /// # Panics
    /// If `n` is 0 (which would never let an item through).
    ///
    /// ```
    /// use rivulet::prelude::*;
    ///
    /// #[rivulet::remote]
    /// fn double(x: i64) -> i64 {
    ///     2 * x
    /// }
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let out: Vec<_> = futures::stream::iter(0..8).scatter(&client).map(double).buffered(4).gather().collect().await;
    /// assert_eq!(out.len(), 8);
    /// # Ok(())
    /// # }
    /// ```
    pub fn buffered(self, n: usize) -> RemoteStream<T> {
        crate::util::assert_nonzero(n, "buffered", "n");
        let items = super::buffered::Buffered::new(self.items, n).boxed();
        let client = self.client.clone();
        RemoteStream { items, client }
    }

    /// Brings the values back: a local stream of `Result<T, TaskError>`, in input order.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(1).await?;
    /// let back: Vec<_> = futures::stream::iter(vec!["a", "b"]).map(String::from).scatter(&client).gather().collect().await;
    /// assert_eq!(back, vec![Ok("a".to_owned()), Ok("b".to_owned())]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn gather(self) -> Gather<T> {
        Gather {
            items: self
                .items
                .then(|handle| async move { handle.fetch().await })
                .boxed(),
        }
    }

    /// [`gather`](Self::gather), each result with the acknowledgement of the source items it
    /// came from ([`Acked`] items that were scattered, and every item of a batch): the items
    /// are done when you drop the result (after writing it out, say), so a source that commits
    /// in order commits them only then. With plain `gather` they are done as they are
    /// gathered. An item whose workers were all lost (its error is
    /// [`WorkerLost`](crate::TaskErrorKind::WorkerLost) or
    /// [`NoWorkers`](crate::TaskErrorKind::NoWorkers)) is never done: its source replays it
    /// after a restart. Items that carry no acknowledgement get [`Ack::none`].
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use rivulet::ack::Tracker;
    ///
    /// #[rivulet::remote]
    /// fn double(x: i64) -> i64 {
    ///     2 * x
    /// }
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let tracker = Tracker::new();
    /// let items: Vec<_> = (1..=3_u64).map(|i| tracker.acked(i as i64, i)).collect();
    /// let results: Vec<_> = futures::stream::iter(items)
    ///     .scatter(&client)
    ///     .map(double)
    ///     .gather_acked()
    ///     .collect()
    ///     .await;
    /// assert_eq!(tracker.committed(), None); // held by the results
    /// assert_eq!(results[2].value, Ok(6));
    /// drop(results);
    /// assert_eq!(tracker.committed(), Some(3));
    /// # Ok(())
    /// # }
    /// ```
    pub fn gather_acked(self) -> GatherAcked<T> {
        GatherAcked {
            items: self
                .items
                .then(|handle| async move {
                    let result = handle.fetch().await;
                    let acks = handle.value.acks().to_vec();
                    drop(handle);
                    let lost = matches!(
                        &result,
                        Err(error) if matches!(error.kind(), TaskErrorKind::WorkerLost | TaskErrorKind::NoWorkers)
                    );
                    if lost {
                        for ack in &acks {
                            ack.abandon();
                        }
                    }
                    let ack = match acks.len() {
                        0 => Ack::none(),
                        1 => acks.into_iter().next().unwrap_or_else(Ack::none),
                        _ => Ack::new(move || drop(acks)),
                    };
                    Acked::new(result, ack)
                })
                .boxed(),
        }
    }

    /// The explicit escape hatch: a local stream of the handles themselves.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let handles: Vec<rivulet::RemoteFuture<i64>> =
    ///     futures::stream::iter(0..2).scatter(&client).into_futures().collect().await;
    /// assert_eq!(handles[1].fetch().await?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn into_futures(self) -> RemoteFutures<T> {
        RemoteFutures { items: self.items }
    }

    /// The client this stream's values live under.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Not available: a remote stream yields handles, not values. Call
    /// [`gather`](RemoteStream::gather) first, then `sink`.
    pub fn sink<F>(self, _f: F) -> crate::SinkHandle
    where
        Self: LocalStream,
    {
        unreachable!("RemoteStream is never a local stream")
    }

    /// Not available: a remote stream yields handles, not values (streamz's
    /// `scatter().flatten()` fails the same way). Call [`gather`](RemoteStream::gather) first.
    pub fn flatten_iter(self) -> crate::ops::FlattenIter<futures::stream::Empty<T>>
    where
        Self: LocalStream,
        T: IntoIterator,
    {
        unreachable!("RemoteStream is never a local stream")
    }

    /// Not available: a remote stream yields handles, not values. Call
    /// [`gather`](RemoteStream::gather) first, then `sink_to_list`.
    pub fn sink_to_list(self) -> crate::ListSink<T>
    where
        Self: LocalStream,
    {
        unreachable!("RemoteStream is never a local stream")
    }
}

/// Asks the remote predicate about one item: `Some(item)` to keep it (or to pass its failure
/// on), `None` to drop it. A lost worker's item is made again elsewhere and asked again.
async fn retain_one(
    client: &Client,
    function: &Arc<str>,
    params: Result<Bytes, TaskError>,
    mut input: Arc<Value>,
) -> Option<Arc<Value>> {
    let params = match params {
        Ok(params) => params,
        Err(error) => return Some(client.failed_value(&input.link, error).inherit([&input])),
    };
    for _ in 0..RETAIN_ATTEMPTS {
        let (_, verdict) =
            client.submit_task(TaskKind::Retain, function, &params, &[&input], 0, false);
        let error = match verdict.await {
            Ok(done) => return (done.verdict != Some(false)).then_some(input),
            Err(error) => error,
        };
        let (settled, status) = input.settled().await;
        input = settled;
        match status {
            // The item itself failed: its own error goes on to `gather`.
            Err(_) => return Some(input),
            // Its worker was lost: bring the item (made again if need be) to a live worker and
            // ask again there.
            Ok(_) if error.is_worker_lost() => {
                let Some(target) = client.place() else {
                    let failed = client.failed_value(
                        &input.link,
                        TaskError::new(
                            TaskErrorKind::NoWorkers,
                            "every worker of the client is lost",
                        ),
                    );
                    return Some(failed.inherit([&input]));
                };
                input = client.move_to(&input, &target).await;
            }
            // The predicate failed: the item becomes that failure.
            Ok(_) => return Some(client.failed_value(&input.link, error).inherit([&input])),
        }
    }
    let failed = client.failed_value(
        &input.link,
        TaskError::new(
            TaskErrorKind::WorkerLost,
            "workers kept being lost while asking retain",
        ),
    );
    Some(failed.inherit([&input]))
}

/// The local stream of values returned by [`RemoteStream::gather`].
#[must_use = "streams do nothing unless polled"]
pub struct Gather<T> {
    items: BoxStream<'static, Result<T, TaskError>>,
}

impl<T> Stream for Gather<T> {
    type Item = Result<T, TaskError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.items.poll_next_unpin(cx)
    }
}

impl<T> fmt::Debug for Gather<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather").finish_non_exhaustive()
    }
}

/// The local stream of acknowledged values returned by [`RemoteStream::gather_acked`].
#[must_use = "streams do nothing unless polled"]
pub struct GatherAcked<T> {
    items: BoxStream<'static, Acked<Result<T, TaskError>>>,
}

impl<T> Stream for GatherAcked<T> {
    type Item = Acked<Result<T, TaskError>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.items.poll_next_unpin(cx)
    }
}

impl<T> fmt::Debug for GatherAcked<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatherAcked").finish_non_exhaustive()
    }
}

/// The local stream of handles returned by [`RemoteStream::into_futures`].
#[must_use = "streams do nothing unless polled"]
pub struct RemoteFutures<T> {
    items: BoxStream<'static, RemoteFuture<T>>,
}

impl<T> Stream for RemoteFutures<T> {
    type Item = RemoteFuture<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.items.poll_next_unpin(cx);
        if let Poll::Ready(Some(handle)) = &polled {
            // A handle given out runs, as Dask's futures do, whether or not it is fetched.
            handle.value.start();
        }
        polled
    }
}

impl<T> fmt::Debug for RemoteFutures<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteFutures").finish_non_exhaustive()
    }
}
