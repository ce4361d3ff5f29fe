//! `RemoteFuture<T>`: a handle to a value that lives on a worker.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use crate::remote::link::{Link, WorkerId};
use crate::remote::protocol::{Key, Request, Response};
use crate::remote::task_error::{TaskError, TaskErrorKind};

/// How the request that makes a value ended.
#[derive(Debug, Clone)]
pub(crate) struct Done {
    /// The value's bytes, when the worker sent them along.
    pub(crate) inline: Option<Bytes>,
    /// A retain task's verdict.
    pub(crate) verdict: Option<bool>,
}

pub(crate) type Status = Shared<BoxFuture<'static, Result<Done, TaskError>>>;

/// Turns the answer to a scatter or submit into a shareable status.
pub(crate) fn status_of(reply: oneshot::Receiver<Result<Response, TaskError>>, worker: WorkerId) -> Status {
    reply
        .map(move |reply| match reply {
            Ok(Ok(Response::Done { verdict, value, .. })) => Ok(Done {
                inline: value.map(Bytes::from),
                verdict,
            }),
            Ok(Ok(Response::Failed(message))) => Err(TaskError::new(TaskErrorKind::Failed, message)),
            Ok(Ok(Response::Rejected(message))) => Err(TaskError::new(TaskErrorKind::Rejected, message)),
            Ok(Ok(Response::Value(_))) => Err(TaskError::new(
                TaskErrorKind::Rejected,
                "the worker answered a task with a value",
            )),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(TaskError::worker_lost(worker)),
        })
        .boxed()
        .shared()
}

/// A status that failed before anything was sent.
pub(crate) fn failed_status(error: TaskError) -> Status {
    futures::future::ready(Err(error)).boxed().shared()
}

/// One value on a worker, shared by every handle to it; released when the last handle goes.
pub(crate) struct Value {
    pub(crate) key: Key,
    pub(crate) link: Arc<Link>,
    pub(crate) status: Status,
    /// Whether the worker was asked to keep it (so that it must be told to let it go).
    pub(crate) sent: bool,
}

impl Drop for Value {
    fn drop(&mut self) {
        if self.sent {
            self.link.release(self.key);
        }
    }
}

impl Value {
    /// The value's encoding, fetched from its worker unless it came along with the reply.
    pub(crate) async fn bytes(&self) -> Result<Bytes, TaskError> {
        let done = self.status.clone().await?;
        if let Some(bytes) = done.inline {
            return Ok(bytes);
        }
        match self.link.request(Request::Fetch { key: self.key }).await {
            Ok(Ok(Response::Value(bytes))) => Ok(Bytes::from(bytes)),
            Ok(Ok(Response::Failed(message))) => Err(TaskError::new(TaskErrorKind::Failed, message)),
            Ok(Ok(Response::Rejected(message))) => Err(TaskError::new(TaskErrorKind::Rejected, message)),
            Ok(Ok(Response::Done { .. })) => Err(TaskError::new(
                TaskErrorKind::Rejected,
                "the worker answered a fetch without a value",
            )),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(TaskError::worker_lost(self.link.id)),
        }
    }
}

/// A handle to a value that lives on a worker (Dask's `Future`).
///
/// It is cheap to clone; dropping the last handle releases the value on its worker.
/// [`fetch`](RemoteFuture::fetch) brings the value here. It is deliberately **not** a
/// [`Future`](std::future::Future), so no `.await` moves data by accident:
///
/// ```compile_fail
/// # async fn f(handle: rivulet::RemoteFuture<i64>) {
/// let x: i64 = handle.await; // error: RemoteFuture is not a future; call .fetch()
/// # }
/// ```
pub struct RemoteFuture<T> {
    pub(crate) value: Arc<Value>,
    _type: PhantomData<fn() -> T>,
}

impl<T> RemoteFuture<T> {
    pub(crate) fn new(value: Value) -> Self {
        Self::from_shared(Arc::new(value))
    }

    pub(crate) fn from_shared(value: Arc<Value>) -> Self {
        RemoteFuture {
            value,
            _type: PhantomData,
        }
    }

    /// The key the value is kept under on its worker.
    pub fn key(&self) -> Key {
        self.value.key
    }

    /// The worker the value lives on.
    pub fn worker(&self) -> WorkerId {
        self.value.link.id
    }

    /// Waits until the value exists on its worker (without moving it), or its task failed.
    pub async fn ready(&self) -> Result<(), TaskError> {
        self.value.status.clone().await.map(drop)
    }
}

impl<T: DeserializeOwned> RemoteFuture<T> {
    /// Brings the value here: waits for its task and decodes it.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(1).await?;
    /// let handle = client.scatter(41_i64);
    /// assert_eq!(handle.fetch().await?, 41);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn fetch(&self) -> Result<T, TaskError> {
        let bytes = self.value.bytes().await?;
        postcard::from_bytes(&bytes).map_err(|error| TaskError::codec(&error))
    }
}

impl<T> Clone for RemoteFuture<T> {
    fn clone(&self) -> Self {
        Self::from_shared(Arc::clone(&self.value))
    }
}

impl<T> fmt::Debug for RemoteFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteFuture")
            .field("key", &self.value.key)
            .field("worker", &self.value.link.id)
            .field("type", &std::any::type_name::<T>())
            .finish()
    }
}
