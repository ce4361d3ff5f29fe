//! What the time-based operators share: a lazily made sleep, a fairness budget, a zero check.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// How many ready items an operator that takes its input at once (`delay`, the windows,
/// `partition_timeout`) takes in one poll before it looks at its clock. Without a bound, an
/// upstream that is always ready would keep it from ever closing a window or letting an item out.
pub(crate) const READY_BUDGET: usize = 128;

/// A one-shot timer that is made at its first poll (so operators can be built outside a runtime)
/// and re-armed in place afterwards.
#[derive(Debug, Default)]
pub(crate) struct Timer {
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Timer {
    /// Ready once `deadline` has passed; otherwise the task is woken then.
    pub(crate) fn poll_until(&mut self, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        // tokio's timer only fires on a later turn of its driver; a deadline that has already
        // passed needs no turn.
        if Instant::now() >= deadline {
            return Poll::Ready(());
        }
        match &mut self.sleep {
            Some(sleep) => {
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                sleep.as_mut().poll(cx)
            }
            None => self
                .sleep
                .insert(Box::pin(tokio::time::sleep_until(deadline)))
                .as_mut()
                .poll(cx),
        }
    }
}

/// `dur` from now; a `dur` too large for the clock is taken as "never" (30 years), as
/// [`tokio::time::sleep`] does.
pub(crate) fn deadline_after(dur: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(dur)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

/// Panics with the crate's standard message when a duration parameter is zero.
#[track_caller]
pub(crate) fn assert_nonzero_duration(value: Duration, op: &str, parameter: &str) {
    assert!(
        !value.is_zero(),
        "{op}: `{parameter}` must be at least 1ns, got 0"
    );
}
