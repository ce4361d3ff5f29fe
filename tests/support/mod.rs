//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub(crate) mod brokers;
#[cfg(feature = "remote")]
pub(crate) mod certs;
#[cfg(feature = "remote")]
pub(crate) mod fake_worker;
pub(crate) mod log_capture;
#[cfg(feature = "remote")]
pub(crate) mod netns;
#[cfg(feature = "remote")]
pub(crate) mod node;
#[cfg(feature = "remote")]
pub(crate) mod raw_client;
pub(crate) mod tempdir;
#[cfg(feature = "remote")]
pub(crate) mod workers;

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

/// Emits the items `0..gaps.len()` into a rendezvous [`rivulet::Source`] on tokio's paused
/// clock, `lead` after the start and then sleeping `gaps[i]` after item `i`, then `tail`, then
/// closes it; the source's stream goes through `op`. Gives each output with the time it came
/// out, since the start. (tokio's timers have millisecond resolution.)
pub(crate) fn run_timed<S>(
    lead: Duration,
    gaps: &[Duration],
    tail: Duration,
    op: impl FnOnce(futures::stream::BoxStream<'static, usize>) -> S,
) -> Vec<(S::Item, Duration)>
where
    S: futures::Stream + Send + 'static,
    S::Item: Send + 'static,
{
    use futures::StreamExt as _;
    use rivulet::StreamzExt as _;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a paused current-thread runtime builds");
    rt.block_on(async {
        let start = tokio::time::Instant::now();
        let source = rivulet::Source::new();
        let list = op(source.stream().boxed())
            .map(move |x| (x, start.elapsed()))
            .sink_to_list();
        tokio::time::sleep(lead).await;
        for (i, gap) in gaps.iter().enumerate() {
            within(source.emit(i)).await.expect("the pipeline is alive");
            tokio::time::sleep(*gap).await;
        }
        tokio::time::sleep(tail).await;
        source.close();
        within(list).await.expect("the pipeline does not panic")
    })
}
