//! Helpers every layer of the crate uses: calling user code, checking sizes, taking locks.
//!
//! They live below both the local operators and the distributed mode, so neither needs the
//! other for them.

use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, MutexGuard, PoisonError};

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

/// Locks `mutex`, whatever a panicking holder left. Every mutex of the crate guards a table its
/// holders only push to, pop from, flag or assign, and user code never runs under one, so a
/// panic elsewhere cannot leave its value half-done: a poisoned lock is still a good one.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
