//! `from_periodic` on tokio's paused clock (V134).

use std::time::Duration;

use futures::StreamExt;
use rivulet::sources::from_periodic;

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn yields_every_interval_from_the_first_poll() {
    let start = tokio::time::Instant::now();
    let mut n = 0;
    let mut ticks = from_periodic(Duration::from_secs(1), move || {
        n += 1;
        (n, start.elapsed())
    });
    for i in 1..=3_u64 {
        let (n, at) = ticks.next().await.unwrap().unwrap();
        assert_eq!(n, i);
        assert_eq!(at, Duration::from_secs(i - 1));
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn missed_ticks_are_skipped_not_burst() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&calls);
    let mut ticks = from_periodic(Duration::from_secs(1), move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    });
    ticks.next().await.unwrap().unwrap();
    // A consumer away for 10 s: f did not run meanwhile, and it gets one value, not ten.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    ticks.next().await.unwrap().unwrap();
    let at = tokio::time::Instant::now();
    ticks.next().await.unwrap().unwrap();
    assert!(
        at.elapsed() > Duration::ZERO,
        "the next value waits for its tick"
    );
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[test]
#[should_panic(expected = "from_periodic: `interval` must be at least 1ns")]
fn a_zero_interval_panics() {
    let _ = from_periodic(Duration::ZERO, || 1);
}
