//! Local operators: [`StreamzExt`], implemented for every [`futures::Stream`], one family per file.

use std::panic::AssertUnwindSafe;

use futures::Stream;

use crate::error::panic_message;
use crate::sink::{spawn_sink, ListSink, SinkHandle};

mod filter;
mod keep;
mod flatten_iter;
mod share;
// @modules (keep this line: operator modules are added above it)

pub use filter::Retain;
pub use flatten_iter::FlattenIter;
pub use keep::Keep;
pub use share::Share;
// @exports (keep this line: operator types are re-exported above it)

/// Calls a user closure on behalf of operator `op`; a panic is re-raised with the operator's name
/// in front of its message, so the [`SinkHandle`] that reports it says where it happened.
#[inline]
pub(crate) fn call_user<R>(op: &'static str, f: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => panic!("`{op}` closure panicked: {}", panic_message(&*payload)),
    }
}

/// Panics with the crate's standard message when a size parameter is zero.
#[track_caller]
pub(crate) fn assert_nonzero(value: usize, op: &str, parameter: &str) {
    assert!(value >= 1, "{op}: `{parameter}` must be at least 1, got 0");
}

/// streamz's operators on every [`futures::Stream`].
///
/// Method names never clash with [`futures::StreamExt`], so both traits can be in scope (the
/// [`prelude`](crate::prelude) brings both). Closures are plain synchronous `FnMut`. A panic in a
/// closure ends the pipeline with an [`Error`](crate::Error) naming the operator, reported by the
/// [`SinkHandle`] that drives it.
///
/// ```
/// use rivulet::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let source = Source::new();
/// let evens = source.stream().retain(|x: &i32| x % 2 == 0).sink_to_list();
/// for x in 0..10 {
///     source.emit(x).await.unwrap();
/// }
/// assert_eq!(evens.snapshot(), vec![0, 2, 4, 6, 8]);
/// # }
/// ```
pub trait StreamzExt: Stream {
    /// Keeps the items for which `pred` is true (streamz's `filter`).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let kept: Vec<i32> = futures::stream::iter(0..10).retain(|x| x % 2 == 0).collect().await;
    /// assert_eq!(kept, vec![0, 2, 4, 6, 8]);
    /// # });
    /// ```
    fn retain<F>(self, pred: F) -> Retain<Self, F>
    where
        Self: Sized,
        F: FnMut(&Self::Item) -> bool,
    {
        Retain::new(self, pred, true)
    }

    /// Drops the items for which `pred` is true (streamz's `remove`).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let odd: Vec<i32> = futures::stream::iter(0..10).remove(|x| x % 2 == 0).collect().await;
    /// assert_eq!(odd, vec![1, 3, 5, 7, 9]);
    /// # });
    /// ```
    fn remove<F>(self, pred: F) -> Retain<Self, F>
    where
        Self: Sized,
        F: FnMut(&Self::Item) -> bool,
    {
        Retain::new(self, pred, false)
    }

    /// Emits the contents of each item, which is any [`IntoIterator`] (streamz's `flatten`).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # futures::executor::block_on(async {
    /// let batches = futures::stream::iter(vec![vec![1, 2], vec![], vec![3]]);
    /// assert_eq!(batches.flatten_iter().collect::<Vec<_>>().await, vec![1, 2, 3]);
    /// # });
    /// ```
    fn flatten_iter(self) -> FlattenIter<Self>
    where
        Self: Sized,
        Self::Item: IntoIterator,
    {
        FlattenIter::new(self)
    }

    /// A [`Clone`]able stream: every clone gets every item, and the upstream is pulled for the
    /// next item only once every clone has come back for it, so the slowest branch sets the pace
    /// (streamz's several downstreams of one node).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let source = Source::new();
    /// let shared = source.stream().map(|x: i32| x * 10).share();
    /// let plus_one = shared.clone().map(|x| x + 1).sink_to_list();
    /// let minus_one = shared.map(|x| x - 1).sink_to_list();
    /// source.emit(1).await.unwrap();
    /// assert_eq!(plus_one.snapshot(), vec![11]);
    /// assert_eq!(minus_one.snapshot(), vec![9]);
    /// # }
    /// ```
    fn share(self) -> Share<Self>
    where
        Self: Sized,
        Self::Item: Clone,
    {
        Share::new(self)
    }

    // @methods (keep this line: operator methods are added above it)

    /// Sends each item to a worker of `client` (the one with the least outstanding work),
    /// making a [`RemoteStream`](crate::RemoteStream) on which remote functions run.
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
    /// let source = Source::new();
    /// let results = source.stream().scatter(&client).map(inc).buffered(8).gather().sink_to_list();
    /// for x in 0..3 {
    ///     source.emit(x).await?;
    /// }
    /// source.close();
    /// assert_eq!(results.await?, vec![Ok(1), Ok(2), Ok(3)]);
    /// # Ok(())
    /// # }
    /// ```
    fn scatter(self, client: &crate::Client) -> crate::RemoteStream<Self::Item>
    where
        Self: Sized + Send + 'static,
        Self::Item: crate::remote::Portable,
    {
        crate::RemoteStream::scatter(self, client)
    }

    /// Spawns the pipeline on the current tokio runtime, handing each item to `f`.
    ///
    /// The returned [`SinkHandle`] resolves when the stream ends. A panic anywhere in the
    /// pipeline ends it with an [`Error`](crate::Error) whose `Display` contains the panic message,
    /// and drops the pipeline, so its subscriptions hold up no `emit`.
    ///
    /// # Panics
    /// Outside a tokio runtime, as [`tokio::spawn`] does.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let source = Source::new();
    /// let done = source.stream().map(|x: i32| x + 1).sink(|x| println!("{x}"));
    /// source.emit(1).await.unwrap(); // prints 2 before emit returns
    /// source.close();
    /// done.await.unwrap();
    /// # }
    /// ```
    fn sink<F>(self, f: F) -> SinkHandle
    where
        Self: Sized + Send + 'static,
        F: FnMut(Self::Item) + Send + 'static,
    {
        spawn_sink(self, f)
    }

    /// Spawns the pipeline on the current tokio runtime, collecting its items in a [`ListSink`].
    ///
    /// # Panics
    /// Outside a tokio runtime, as [`tokio::spawn`] does.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let source = Source::new();
    /// let list = source.stream().sink_to_list();
    /// source.emit(7).await.unwrap();
    /// assert_eq!(list.snapshot(), vec![7]);
    /// # }
    /// ```
    fn sink_to_list(self) -> ListSink<Self::Item>
    where
        Self: Sized + Send + 'static,
        Self::Item: Send + 'static,
    {
        ListSink::spawn(self)
    }
}

impl<S: Stream + ?Sized> StreamzExt for S {}

// @functions (keep this line: free functions over several streams are added above it)
