//! Fan one stream out to several consumers, paced by the slowest.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures::Stream;
use futures::task::ArcWake;

/// Stream for [`StreamzExt::share`](crate::StreamzExt::share): clone it to add a branch.
///
/// Every clone gets every item pulled after it was made (a clone starts where the one it was
/// cloned from stands). The upstream is pulled for the next item only when every live clone has
/// taken the current one *and come back for more*, so a `Source` upstream sees the same
/// rendezvous as with several subscribers: `emit` returns once every branch is done with the item.
/// Dropping a clone removes its branch.
#[must_use = "streams do nothing unless polled"]
pub struct Share<S: Stream> {
    shared: Arc<Shared<S>>,
    id: u64,
}

struct Shared<S: Stream> {
    state: Mutex<State<S>>,
    wakers: Arc<BranchWakers>,
}

struct State<S: Stream> {
    upstream: Pin<Box<S>>,
    ended: bool,
    /// The item most recently pulled, number `pulled - 1`, while some branch has not taken it.
    current: Option<S::Item>,
    /// How many items have been pulled from the upstream.
    pulled: u64,
    branches: Vec<Branch>,
    next_id: u64,
}

struct Branch {
    id: u64,
    /// Number of the next item this branch takes.
    next: u64,
    /// Whether the branch has come back for item `next` since taking the one before.
    asking: bool,
}

/// The wakers of branches waiting for an item; also the waker handed to the upstream, so that
/// whichever branch polled it, every waiting branch hears when it is ready.
#[derive(Default)]
struct BranchWakers {
    waiting: Mutex<Vec<(u64, Waker)>>,
}

impl BranchWakers {
    fn lock(&self) -> MutexGuard<'_, Vec<(u64, Waker)>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn register(&self, id: u64, waker: &Waker) {
        let mut waiting = self.lock();
        match waiting.iter_mut().find(|(branch, _)| *branch == id) {
            Some((_, w)) if w.will_wake(waker) => {}
            Some((_, w)) => *w = waker.clone(),
            None => waiting.push((id, waker.clone())),
        }
    }

    fn wake_all(&self) {
        let waiting = std::mem::take(&mut *self.lock());
        for (_, waker) in waiting {
            waker.wake();
        }
    }
}

impl ArcWake for BranchWakers {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.wake_all();
    }
}

impl<S: Stream> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, State<S>> {
        // Every update of the state is a single step; a panic in the upstream (while polled under
        // the lock) leaves it consistent, and the panic itself reaches the polling branch.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<S: Stream> Share<S> {
    pub(crate) fn new(stream: S) -> Self {
        let state = State {
            upstream: Box::pin(stream),
            ended: false,
            current: None,
            pulled: 0,
            branches: vec![Branch {
                id: 0,
                next: 0,
                asking: false,
            }],
            next_id: 1,
        };
        Share {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                wakers: Arc::new(BranchWakers::default()),
            }),
            id: 0,
        }
    }
}

impl<S: Stream> Clone for Share<S> {
    fn clone(&self) -> Self {
        let mut state = self.shared.lock();
        let id = state.next_id;
        state.next_id += 1;
        let next = state
            .branches
            .iter()
            .find(|b| b.id == self.id)
            .map_or(state.pulled, |b| b.next);
        state.branches.push(Branch {
            id,
            next,
            asking: false,
        });
        Share {
            shared: Arc::clone(&self.shared),
            id,
        }
    }
}

impl<S: Stream> Drop for Share<S> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.branches.retain(|b| b.id != self.id);
        if state.branches.iter().all(|b| b.next == state.pulled) {
            state.current = None;
        }
        drop(state);
        // The branches left may all be waiting on this one: let them pull the next item.
        self.shared.wakers.wake_all();
    }
}

impl<S> Stream for Share<S>
where
    S: Stream,
    S::Item: Clone,
{
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let id = self.id;
        let shared = &self.shared;
        let mut state = shared.lock();
        let pulled = state.pulled;
        let Some(me) = state.branches.iter().position(|b| b.id == id) else {
            return Poll::Ready(None);
        };
        if state.branches[me].next < pulled {
            // The current item is still there for us.
            return Poll::Ready(take_current(&mut state, me));
        }
        state.branches[me].asking = true;
        if state.ended {
            return Poll::Ready(None);
        }
        shared.wakers.register(id, cx.waker());
        if !state.branches.iter().all(|b| b.asking) {
            return Poll::Pending;
        }
        // Everyone has come back: pull the next item for all.
        state.current = None;
        let upstream_waker = futures::task::waker(Arc::clone(&shared.wakers));
        let mut upstream_cx = Context::from_waker(&upstream_waker);
        match state.upstream.as_mut().poll_next(&mut upstream_cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                state.ended = true;
                drop(state);
                shared.wakers.wake_all();
                Poll::Ready(None)
            }
            Poll::Ready(Some(x)) => {
                state.current = Some(x);
                state.pulled += 1;
                for branch in &mut state.branches {
                    branch.asking = false;
                }
                let item = take_current(&mut state, me);
                drop(state);
                shared.wakers.wake_all();
                Poll::Ready(item)
            }
        }
    }
}

/// Hands branch `me` the current item: a clone, or the item itself when it is the last taker.
fn take_current<S: Stream>(state: &mut State<S>, me: usize) -> Option<S::Item>
where
    S::Item: Clone,
{
    let pulled = state.pulled;
    state.branches[me].next = pulled;
    state.branches[me].asking = false;
    let others_pending = state.branches.iter().any(|b| b.next < pulled);
    if others_pending {
        state.current.clone()
    } else {
        state.current.take()
    }
}

impl<S: Stream> std::fmt::Debug for Share<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Share")
            .field("branch", &self.id)
            .field("branches", &state.branches.len())
            .field("pulled", &state.pulled)
            .field("ended", &state.ended)
            .finish()
    }
}
