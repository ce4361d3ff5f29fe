//! Helpers every layer of the crate uses: calling user code, checking sizes.
//!
//! They live below both the local operators and the distributed mode, so neither needs the
//! other for them.

use std::panic::AssertUnwindSafe;

use crate::error::panic_message;

/// Calls a user closure on behalf of operator `op`; a panic is re-raised with the operator's name
/// in front of its message, so the [`SinkHandle`](crate::SinkHandle) that reports it says where
/// it happened.
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
