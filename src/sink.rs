//! Sink drivers: spawn a pipeline on the current tokio runtime and hand back a handle to its end.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use tokio::task::{JoinError, JoinHandle};

use crate::error::{Error, panic_message};
use crate::util::call_user;
use crate::util::lock;

/// A running pipeline spawned by [`sink`](crate::StreamzExt::sink): a future of its end.
///
/// It resolves to `Ok(())` when the stream ends, or to an [`Error`] when the pipeline panicked
/// (the error's `Display` carries the panic message). Dropping the handle detaches the pipeline,
/// which keeps running; [`abort`](SinkHandle::abort) stops it.
///
/// ```
/// use rivulet::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let handle = futures::stream::iter(1..=3).sink(|x| println!("{x}"));
/// handle.await.unwrap();
/// # }
/// ```
#[derive(Debug)]
#[must_use = "dropping the handle detaches the pipeline; await it to see how it ended"]
pub struct SinkHandle {
    task: JoinHandle<Result<(), Error>>,
}

impl SinkHandle {
    /// Stops the pipeline; awaiting the handle then gives [`Error::Cancelled`].
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let handle = futures::stream::pending::<i32>().sink(drop);
    /// handle.abort();
    /// assert!(matches!(handle.await, Err(rivulet::Error::Cancelled)));
    /// # }
    /// ```
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Whether the pipeline has ended (normally, by a panic, or aborted).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let handle = futures::stream::pending::<i32>().sink(drop);
    /// assert!(!handle.is_finished());
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Future for SinkHandle {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.task)
            .poll(cx)
            .map(|ended| ended.map_err(join_error).and_then(|result| result))
    }
}

fn join_error(error: JoinError) -> Error {
    match error.try_into_panic() {
        Ok(payload) => Error::Panicked {
            message: panic_message(&*payload),
        },
        Err(_) => Error::Cancelled,
    }
}

/// Spawns `stream` on the current runtime, handing each item to `f`.
pub(crate) fn spawn_sink<S, F>(stream: S, mut f: F) -> SinkHandle
where
    S: Stream + Send + 'static,
    F: FnMut(S::Item) + Send + 'static,
{
    spawn_fallible(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(x) = stream.next().await {
            call_user("sink", || f(x));
        }
        Ok(())
    })
}

/// Spawns a sink's driving future, which may end the pipeline with an error of its own.
pub(crate) fn spawn_fallible<F>(driver: F) -> SinkHandle
where
    F: Future<Output = Result<(), Error>> + Send + 'static,
{
    SinkHandle {
        task: tokio::spawn(driver),
    }
}

/// A running pipeline spawned by [`sink_to_list`](crate::StreamzExt::sink_to_list), collecting
/// its items.
///
/// [`snapshot`](ListSink::snapshot) reads what has arrived so far; awaiting the `ListSink` waits
/// for the stream to end and gives the whole list.
///
/// ```
/// use rivulet::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let source = Source::new();
/// let list = source.stream().retain(|x: &i32| x % 2 == 0).sink_to_list();
/// for x in 0..5 {
///     source.emit(x).await.unwrap();
/// }
/// assert_eq!(list.len(), 3);
/// source.close();
/// assert_eq!(list.await.unwrap(), vec![0, 2, 4]);
/// # }
/// ```
#[derive(Debug)]
#[must_use = "dropping the list detaches the pipeline and loses what it collects"]
pub struct ListSink<T> {
    items: Arc<Mutex<Vec<T>>>,
    handle: SinkHandle,
}

impl<T> ListSink<T> {
    pub(crate) fn spawn<S>(stream: S) -> Self
    where
        S: Stream<Item = T> + Send + 'static,
        T: Send + 'static,
    {
        let items = Arc::new(Mutex::new(Vec::new()));
        let sink_items = Arc::clone(&items);
        let handle = spawn_sink(stream, move |x| lock(&sink_items).push(x));
        ListSink { items, handle }
    }

    /// How many items have arrived so far.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let list = futures::stream::iter(0..4).sink_to_list();
    /// tokio::task::yield_now().await;
    /// assert_eq!(list.len(), 4);
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        lock(&self.items).len()
    }

    /// Whether nothing has arrived yet.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let list = futures::stream::empty::<i32>().sink_to_list();
    /// assert!(list.is_empty());
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        lock(&self.items).is_empty()
    }

    /// Stops the pipeline; awaiting the list then gives [`Error::Cancelled`].
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let list = futures::stream::pending::<i32>().sink_to_list();
    /// list.abort();
    /// assert!(list.await.is_err());
    /// # }
    /// ```
    pub fn abort(&self) {
        self.handle.abort();
    }
}

impl<T: Clone> ListSink<T> {
    /// A copy of what has arrived so far.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let source = Source::new();
    /// let list = source.stream().sink_to_list();
    /// source.emit("a").await.unwrap();
    /// assert_eq!(list.snapshot(), vec!["a"]);
    /// # }
    /// ```
    pub fn snapshot(&self) -> Vec<T> {
        lock(&self.items).clone()
    }
}

/// Waits for the stream to end and gives every item it produced, or the [`Error`] that ended it.
impl<T> Future for ListSink<T> {
    type Output = Result<Vec<T>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        futures::ready!(Pin::new(&mut self.handle).poll(cx))?;
        Poll::Ready(Ok(std::mem::take(&mut *lock(&self.items))))
    }
}
