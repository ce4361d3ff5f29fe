//! `RemoteFuture<T>`: a handle to a value that lives on a worker.

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use super::Client;
use super::link::Link;
use super::lock;
use crate::remote::proto::WorkerId;
use crate::remote::proto::{Key, Request, Response, TaskKind, decode_exact};
use crate::remote::proto::{TaskError, TaskErrorKind};

/// How the request that makes a value ended.
#[derive(Debug, Clone)]
pub(crate) struct Done {
    /// The outputs' bytes that came along with the reply (`None` where too large).
    pub(crate) inline: Vec<Option<Bytes>>,
    /// A retain task's verdict.
    pub(crate) verdict: Option<bool>,
    /// The outputs' sizes, as the worker said.
    pub(crate) sizes: Vec<u64>,
}

/// How a value's request ended: shared, so that every handle reads it without a copy.
pub(crate) type Outcome = Result<Arc<Done>, TaskError>;

/// How the request that makes a value ended, once it has: one cell shared by the request's
/// outputs and every handle to them, settled once by the link when the reply comes (or the
/// request is lost). Awaiting it gives the shared outcome; a pending status is one allocation
/// (and the outcome one more), where a boxed shared future over a channel was four.
#[derive(Clone)]
pub(crate) struct Status(Arc<Mutex<StatusState>>);

enum StatusState {
    /// The request is out: who waits for it.
    Waiting(Vec<Waker>),
    Settled(Outcome),
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.state() {
            StatusState::Waiting(_) => f.write_str("Status::Waiting"),
            StatusState::Settled(outcome) => {
                f.debug_tuple("Status::Settled").field(outcome).finish()
            }
        }
    }
}

impl Status {
    /// A status whose request is out, and what settles it.
    pub(crate) fn waiting(worker: WorkerId) -> (Status, Settle) {
        let status = Status(Arc::new(Mutex::new(StatusState::Waiting(Vec::new()))));
        let settle = Settle {
            status: Some(status.clone()),
            worker,
        };
        (status, settle)
    }

    /// A status settled from the start.
    pub(crate) fn settled(outcome: Result<Done, TaskError>) -> Status {
        Status(Arc::new(Mutex::new(StatusState::Settled(
            outcome.map(Arc::new),
        ))))
    }

    fn state(&self) -> MutexGuard<'_, StatusState> {
        // Every change under the lock is one assignment or push; a panic cannot leave it
        // half-done.
        lock(&self.0)
    }

    /// The outcome, if the request has ended.
    pub(crate) fn peek(&self) -> Option<Outcome> {
        match &*self.state() {
            StatusState::Settled(outcome) => Some(outcome.clone()),
            StatusState::Waiting(_) => None,
        }
    }

    /// The bytes of output `output` if the request has ended and they came with its reply
    /// (without copying the rest of the outcome).
    pub(crate) fn inline(&self, output: usize) -> Option<Bytes> {
        match &*self.state() {
            StatusState::Settled(Ok(done)) => done.inline.get(output)?.clone(),
            _ => None,
        }
    }

    fn settle(&self, outcome: Result<Done, TaskError>) {
        let outcome = outcome.map(Arc::new);
        let waiting = {
            let mut state = self.state();
            if matches!(*state, StatusState::Settled(_)) {
                return;
            }
            std::mem::replace(&mut *state, StatusState::Settled(outcome))
        };
        // Woken outside the lock: a woken task may poll at once on another thread.
        if let StatusState::Waiting(wakers) = waiting {
            wakers.into_iter().for_each(Waker::wake);
        }
    }
}

impl std::future::Future for Status {
    type Output = Outcome;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut *self.state() {
            StatusState::Settled(outcome) => Poll::Ready(outcome.clone()),
            StatusState::Waiting(wakers) => {
                if !wakers.iter().any(|waker| waker.will_wake(cx.waker())) {
                    wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

/// Settles a [`Status`] with its request's answer; dropped unanswered (the request was never
/// sent, or its link went without a word), it settles it as lost on its worker.
#[derive(Debug)]
pub(crate) struct Settle {
    status: Option<Status>,
    worker: WorkerId,
}

impl Settle {
    /// Settles the status with the worker's answer to a task.
    pub(crate) fn answer(mut self, reply: Result<Response, TaskError>) {
        if let Some(status) = self.status.take() {
            status.settle(done_of(reply, self.worker));
        }
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        if let Some(status) = self.status.take() {
            status.settle(Err(TaskError::worker_lost(self.worker)));
        }
    }
}

/// A worker's answer, with its failures (and a lost link) turned into the item's error: what
/// is left is a `Done` or a `Value`.
fn answer(
    reply: Result<Result<Response, TaskError>, oneshot::error::RecvError>,
    worker: WorkerId,
) -> Result<Response, TaskError> {
    match reply {
        Ok(Ok(Response::Failed(failure))) => Err(TaskError::from_failure(failure, worker)),
        Ok(Ok(Response::Rejected(message))) => {
            Err(TaskError::new(TaskErrorKind::Rejected, message))
        }
        Ok(answered) => answered,
        Err(_) => Err(TaskError::worker_lost(worker)),
    }
}

/// How a task ended, from the worker's answer to it.
fn done_of(reply: Result<Response, TaskError>, worker: WorkerId) -> Result<Done, TaskError> {
    match answer(Ok(reply), worker)? {
        Response::Done {
            verdict,
            values,
            sizes,
        } => Ok(Done {
            inline: values,
            verdict,
            sizes,
        }),
        _ => Err(TaskError::new(
            TaskErrorKind::Rejected,
            "the worker answered a task with a value",
        )),
    }
}

/// A status that is done already: the value's bytes are here.
pub(crate) fn ready_status(bytes: Bytes) -> Status {
    Status::settled(Ok(Done {
        sizes: vec![bytes.len() as u64],
        inline: vec![Some(bytes)],
        verdict: None,
    }))
}

/// The status of a value that is made on its worker, of `size` bytes, whose bytes are not here.
pub(crate) fn made_status(size: u64) -> Status {
    Status::settled(Ok(Done {
        sizes: vec![size],
        inline: vec![None],
        verdict: None,
    }))
}

/// A status that failed before anything was sent.
pub(crate) fn failed_status(error: TaskError) -> Status {
    Status::settled(Err(error))
}

/// How to make a value again if its worker is lost: what the client keeps until the value's
/// last handle is dropped (so memory stays bounded by the items in flight).
#[derive(Debug, Clone)]
pub(crate) enum Lineage {
    /// It was scattered (or came back inline): the client holds its bytes.
    Bytes(Bytes),
    /// Output `output` of a task over `inputs`.
    Task {
        kind: TaskKind,
        function: Arc<str>,
        params: Bytes,
        inputs: Vec<Arc<Value>>,
        output: usize,
        outputs: usize,
    },
    /// It failed before it was sent anywhere: there is nothing to redo.
    Unsent,
}

/// Whether a value's request is still out.
#[derive(Debug)]
pub(crate) enum Outstanding {
    /// Its task is submitted and not answered; a `buffered(n)` may have lent it one of its n
    /// places, given back with the answer.
    Running(Option<OwnedSemaphorePermit>),
    /// Answered (or never asked for: the value was here from the start).
    Answered,
}

impl Outstanding {
    pub(crate) fn running() -> Mutex<Outstanding> {
        Mutex::new(Outstanding::Running(None))
    }

    pub(crate) fn answered() -> Mutex<Outstanding> {
        Mutex::new(Outstanding::Answered)
    }
}

/// A task's request, made but not sent: it goes when something needs one of its outputs (a
/// `buffered(n)` with a free place, a fetch, a task on it that is sent), so that an item
/// pulled ahead costs the workers nothing until then.
#[derive(Debug, Default)]
pub(crate) struct Deferred {
    pending: Mutex<Option<PendingRequest>>,
    /// Outputs dropped before the request went: the worker makes them anyway (another output
    /// of the same task was wanted), so they are released right after the request.
    orphans: Mutex<Vec<Key>>,
    /// Set once the request has gone (never unset): the fast way to know there is nothing to do.
    sent: AtomicBool,
}

/// What sending a deferred request takes.
#[derive(Debug)]
pub(crate) struct PendingRequest {
    pub(crate) link: Arc<Link>,
    pub(crate) request: Request,
    pub(crate) answer: super::link::Answerer,
    pub(crate) outputs: Vec<std::sync::Weak<Value>>,
    /// The task's inputs, whose own requests must go first.
    pub(crate) inputs: Vec<Arc<Value>>,
}

impl PendingRequest {
    pub(crate) fn send(self) {
        self.link
            .send_request(self.request, self.answer, self.outputs);
    }
}

/// A deferred request taken to be sent, with the outputs to release after it.
#[derive(Debug)]
pub(crate) struct Taken {
    pub(crate) pending: PendingRequest,
    orphans: Vec<Key>,
}

impl Taken {
    pub(crate) fn send(self) {
        let link = Arc::clone(&self.pending.link);
        self.pending.send();
        for key in self.orphans {
            link.release(key);
        }
    }
}

impl Deferred {
    pub(crate) fn defer(&self, pending: PendingRequest) {
        *lock(&self.pending) = Some(pending);
    }

    fn is_sent(&self) -> bool {
        self.sent.load(Ordering::Acquire)
    }

    fn take(&self) -> Option<Taken> {
        let mut pending = lock(&self.pending);
        let taken = pending.take()?;
        self.sent.store(true, Ordering::Release);
        let orphans = std::mem::take(&mut *lock(&self.orphans));
        drop(pending);
        Some(Taken {
            pending: taken,
            orphans,
        })
    }

    /// Notes an output dropped while the request waits: `false` if it has gone already
    /// (the output is then released as any other).
    fn orphan(&self, key: Key) -> bool {
        let pending = lock(&self.pending);
        if pending.is_none() {
            return false;
        }
        lock(&self.orphans).push(key);
        true
    }
}

/// One value on a worker, shared by every handle to it; released when the last handle goes.
pub(crate) struct Value {
    pub(crate) key: Key,
    pub(crate) link: Arc<Link>,
    pub(crate) status: Status,
    /// Which output of its request this value is (its index in [`Done::inline`]).
    pub(crate) output: usize,
    pub(crate) lineage: Mutex<Lineage>,
    /// Whether the request that makes it is still out, and the place in a
    /// [`buffered(n)`](super::RemoteStream::buffered) the value holds until it is not.
    pub(crate) outstanding: Mutex<Outstanding>,
    /// The task that makes the value, until its request has been sent.
    pub(crate) request: Option<Arc<Deferred>>,
    /// The value is only here, not on its worker yet: it was scattered by a stream, and goes
    /// to the worker along with the first task on it (or is never sent, if no task needs it).
    pub(crate) local_only: AtomicBool,
    /// The acknowledgements of the source items this value stands for (scattered from
    /// [`Acked`](crate::Acked) items, or made from such values): held as long as it is.
    pub(crate) acks: std::sync::OnceLock<Vec<crate::Ack>>,
    pub(crate) client: Client,
}

impl Drop for Value {
    fn drop(&mut self) {
        // A value only here, or whose task was not sent yet, has nothing on a worker to free
        // now (should the task go for another of its outputs, this one is released after it).
        let never_sent = self
            .request
            .as_ref()
            .is_some_and(|request| !request.is_sent() && request.orphan(self.key));
        if !self.local_only.load(Ordering::Acquire)
            && !never_sent
            && !matches!(*self.lineage(), Lineage::Unsent)
        {
            let _span =
                tracing::debug_span!("release", key = ?self.key, worker = %self.link.id).entered();
            self.link.release(self.key);
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Value")
            .field("key", &self.key)
            .field("worker", &self.link.id)
            .finish()
    }
}

/// How many times a value is made again before its worker losses count as final.
pub(crate) const MAX_RECOVERIES: usize = 8;

impl Value {
    /// This value, standing for the same source items as `from` (their acknowledgements are
    /// held as long as it is): what a value made from others, or in their place (a failure,
    /// a copy, a value made again), gets.
    pub(crate) fn inherit<'a>(
        self: Arc<Self>,
        from: impl IntoIterator<Item = &'a Arc<Value>>,
    ) -> Arc<Self> {
        let acks: Vec<crate::Ack> = from
            .into_iter()
            .flat_map(|value| value.acks())
            .cloned()
            .collect();
        if !acks.is_empty() {
            let _ = self.acks.set(acks);
        }
        self
    }

    /// The acknowledgements this value holds (none for most).
    pub(crate) fn acks(&self) -> &[crate::Ack] {
        self.acks.get().map_or(&[], Vec::as_slice)
    }

    pub(crate) fn lineage(&self) -> MutexGuard<'_, Lineage> {
        // Replacing the lineage is one assignment; a panic cannot leave it half-done.
        self.lineage
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends the request that makes this value, if it has not gone yet, after those of its
    /// inputs that have not either.
    pub(crate) fn start(self: &Arc<Self>) {
        if self
            .request
            .as_ref()
            .is_none_or(|request| request.is_sent())
        {
            return;
        }
        let _starting = lock(&self.client.inner.starting);
        self.start_locked();
    }

    /// [`start`](Self::start), under the client's start lock: depth first, inputs before the
    /// task, with a stack of its own rather than recursion (a chain may be long).
    pub(crate) fn start_locked(self: &Arc<Self>) {
        // Most tasks' inputs were sent already (scattered, or made by tasks that went): their
        // request goes at once, with no stack to build.
        let Some(request) = self.request.as_ref() else {
            return;
        };
        let Some(taken) = request.take() else {
            return;
        };
        if taken.pending.inputs.iter().all(|input| {
            input
                .request
                .as_ref()
                .is_none_or(|request| request.is_sent())
        }) {
            taken.send();
            return;
        }
        Self::start_with_inputs(taken);
    }

    /// Sends `taken` after those of its inputs' requests that have not gone, depth first.
    fn start_with_inputs(taken: Taken) {
        enum Step {
            Visit(Arc<Value>),
            Send(Box<Taken>),
        }
        // The request goes after its inputs' (pushed last, so popped first), which go in their
        // order (pushed reversed).
        fn push(steps: &mut Vec<Step>, taken: Taken) {
            let inputs: Vec<Arc<Value>> = taken.pending.inputs.clone();
            steps.push(Step::Send(Box::new(taken)));
            steps.extend(inputs.into_iter().rev().map(Step::Visit));
        }
        let mut steps = Vec::new();
        push(&mut steps, taken);
        while let Some(step) = steps.pop() {
            match step {
                Step::Visit(value) => {
                    if let Some(taken) = value.request.as_ref().and_then(|request| request.take()) {
                        push(&mut steps, taken);
                    }
                }
                Step::Send(taken) => (*taken).send(),
            }
        }
    }

    /// Holds one of a `buffered(n)`'s places until the value's request is answered (at once,
    /// if it is).
    pub(crate) fn hold_while_running(&self, place: OwnedSemaphorePermit) {
        let mut outstanding = lock(&self.outstanding);
        match &mut *outstanding {
            Outstanding::Running(held) => *held = Some(place),
            Outstanding::Answered => {
                drop(outstanding);
                drop(place);
            }
        }
    }

    /// The value's request is answered: the place it held (if any) is given back.
    pub(crate) fn answered(&self) {
        let before = std::mem::replace(&mut *lock(&self.outstanding), Outstanding::Answered);
        drop(before);
    }

    /// The value's bytes, if it is only here (not on its worker yet).
    pub(crate) fn local_bytes(&self) -> Option<Bytes> {
        if !self.local_only.load(Ordering::Acquire) {
            return None;
        }
        match &*self.lineage() {
            Lineage::Bytes(bytes) => Some(bytes.clone()),
            _ => None,
        }
    }

    /// Sends a value that is only here to its worker, to stay there (once, however many tasks
    /// ask at the same time).
    pub(crate) fn send_once(&self, bytes: Bytes) {
        if self
            .local_only
            .compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.link.scatter(self.key, bytes);
        }
    }

    /// The error of a value that failed before it was sent to any worker.
    pub(crate) fn unsent_error(&self) -> Option<TaskError> {
        if !matches!(*self.lineage(), Lineage::Unsent) {
            return None;
        }
        // Such a status is settled from the start.
        match self.status.peek() {
            Some(Err(error)) => Some(error),
            _ => None,
        }
    }

    /// Once the value's bytes are known here, forget how it was made: this ends the chains of
    /// inputs (an accumulation's states) that would otherwise grow with the stream.
    pub(crate) fn compact(&self) {
        if let Some(bytes) = self.status.inline(self.output) {
            *self.lineage() = Lineage::Bytes(bytes);
        }
    }

    /// [`compact`](Self::compact), with the outputs' bytes of its task's reply.
    pub(crate) fn compact_with(&self, inline: &[Option<Bytes>]) {
        if let Some(Some(bytes)) = inline.get(self.output) {
            *self.lineage() = Lineage::Bytes(bytes.clone());
        }
    }

    /// The value's status, made again elsewhere as often as its worker is lost: the value that
    /// now stands for `self` (itself, unless it was made again) and how its request ended.
    pub(crate) async fn settled(self: &Arc<Self>) -> (Arc<Value>, Outcome) {
        let mut value = Arc::clone(self);
        let mut recoveries = 0;
        loop {
            value.start();
            let status = value.status.clone().await;
            match status {
                Err(error) if error.is_worker_lost() && recoveries < MAX_RECOVERIES => {
                    recoveries += 1;
                    match value.remake().await {
                        Ok(remade) => value = remade,
                        Err(error) => return (value, Err(error)),
                    }
                }
                status => return (value, status),
            }
        }
    }

    /// Makes this value again on a live worker, from its lineage.
    pub(crate) fn remake(self: &Arc<Self>) -> BoxFuture<'static, Result<Arc<Value>, TaskError>> {
        let value = Arc::clone(self);
        async move {
            let client = value.client.clone();
            let target = client.place().ok_or_else(|| {
                TaskError::new(TaskErrorKind::NoWorkers, "every worker of the client is lost")
            })?;
            tracing::info!(key = ?value.key, lost = %value.link.id, to = %target.id, "making a value again");
            let lineage = value.lineage().clone();
            match lineage {
                // The bytes are here: they go to the new worker with the first task on them.
                Lineage::Bytes(bytes) => Ok(client.local_value(&target, bytes).inherit([&value])),
                Lineage::Unsent => Err(TaskError::worker_lost(value.link.id)),
                Lineage::Task { kind, function, params, inputs, output, outputs } => {
                    let mut moved = Vec::with_capacity(inputs.len());
                    for input in &inputs {
                        moved.push(client.move_to(input, &target).await);
                    }
                    let moved: Vec<&Arc<Value>> = moved.iter().collect();
                    let (mut remade, _) = client.submit_task(kind, &function, &params, &moved, outputs, true);
                    Ok(remade.swap_remove(output).inherit([&value]))
                }
            }
        }
        .boxed()
    }

    /// The value's encoding, fetched from its worker unless it came along with the reply;
    /// made again elsewhere if its worker is lost.
    pub(crate) async fn bytes(self: &Arc<Self>) -> Result<Bytes, TaskError> {
        let mut recoveries = 0;
        let mut value = Arc::clone(self);
        loop {
            let (settled, status) = value.settled().await;
            value = settled;
            let done = status?;
            if let Some(Some(bytes)) = done.inline.get(value.output) {
                return Ok(bytes.clone());
            }
            match value.fetch_bytes().await {
                Err(error) if error.is_worker_lost() && recoveries < MAX_RECOVERIES => {
                    recoveries += 1;
                    value = value.remake().await?;
                }
                fetched => return fetched,
            }
        }
    }

    async fn fetch_bytes(&self) -> Result<Bytes, TaskError> {
        let reply = self.link.request(Request::Fetch { key: self.key }).await;
        match answer(reply, self.link.id)? {
            Response::Value(bytes) => Ok(bytes),
            _ => Err(TaskError::new(
                TaskErrorKind::Rejected,
                "the worker answered a fetch without a value",
            )),
        }
    }
}

/// A handle to a value that lives on a worker (Dask's `Future`).
///
/// It is cheap to clone; dropping the last handle releases the value on its worker.
/// [`fetch`](RemoteFuture::fetch) brings the value here. It is deliberately **not** a
/// [`Future`](std::future::Future), so no `.await` moves data by accident:
///
/// ```compile_fail,E0277
/// # async fn f(handle: rivulet::RemoteFuture<i64>) {
/// let x = handle.await; // error[E0277]: `RemoteFuture<i64>` is not a future
/// # }
/// ```
///
/// That is rustc's own message (its "help: remove the `.await`" is not what you want either):
/// write `handle.fetch().await?` to bring the value here.
pub struct RemoteFuture<T> {
    pub(crate) value: Arc<Value>,
    _type: PhantomData<fn() -> T>,
}

impl<T> RemoteFuture<T> {
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
    /// A value whose worker was lost is made again elsewhere first.
    pub async fn ready(&self) -> Result<(), TaskError> {
        self.value.settled().await.1.map(drop)
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
        let asked = std::time::Instant::now();
        let span =
            tracing::debug_span!("fetch", key = ?self.value.key, worker = %self.value.link.id);
        let bytes = tracing::Instrument::instrument(self.value.bytes(), span).await?;
        self.value.client.inner.metrics.on_gathered(asked);
        // Exactly one value: bytes left over mean the worker sent something else.
        decode_exact(&bytes)
            .map_err(|error| TaskError::new(TaskErrorKind::Codec, error.to_string()))
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
