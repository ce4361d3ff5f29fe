//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub(crate) mod brokers;
pub(crate) mod certs;
pub(crate) mod tempdir;

use std::future::Future;
use std::time::Duration;

/// Awaits `future`, failing the test if it takes longer than 30 s. With the paused clock that
/// happens at once when every task is stuck (a deadlock); with real time it bounds a test that
/// talks to workers.
pub(crate) async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .expect("deadlock or hang: the future never finished")
}
