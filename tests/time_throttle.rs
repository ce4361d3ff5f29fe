//! `throttle` on tokio's paused clock, and against a model over random gaps.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use rivulet::prelude::*;
use support::{run_timed, within};
use tokio::time::{Instant, sleep};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

proptest! {
    /// An item passes, at once, iff at least the interval has passed since the last one that
    /// passed; the rest are dropped.
    #[test]
    fn matches_the_model(gaps in prop::collection::vec(0..25_u64, 0..40), every in 1..40_u64) {
        let gaps: Vec<Duration> = gaps.into_iter().map(ms).collect();
        let got = run_timed(Duration::ZERO, &gaps, ms(1), |s| s.throttle(ms(every)));
        let mut expected = Vec::new();
        let (mut t, mut open_at) = (Duration::ZERO, Duration::ZERO);
        for (i, gap) in gaps.iter().enumerate() {
            if t >= open_at {
                expected.push((i, t));
                open_at = t + ms(every);
            }
            t += *gap;
        }
        prop_assert_eq!(got, expected);
    }
}

#[tokio::test(start_paused = true)]
async fn first_of_each_interval_passes_and_the_rest_are_counted() {
    let source = Source::new();
    let throttled = source.stream().throttle(ms(100));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut throttled = std::pin::pin!(throttled);
        while let Some(x) = throttled.next().await {
            tx.send(x).unwrap();
        }
        throttled.dropped()
    });
    let start = Instant::now();
    for x in 0..20_u32 {
        within(source.emit(x)).await.unwrap(); // every 10 ms
        sleep(ms(10)).await;
    }
    assert_eq!(
        start.elapsed(),
        ms(200),
        "throttle never holds an emit back"
    );
    source.close();
    assert_eq!(within(task).await.unwrap(), 18);
    let mut passed = Vec::new();
    while let Some(x) = rx.recv().await {
        passed.push(x);
    }
    assert_eq!(passed, vec![0, 10]);
}

#[test]
#[should_panic(expected = "throttle: `dur` must be at least 1ns")]
fn zero_duration_panics() {
    let _ = futures::stream::iter([1]).throttle(Duration::ZERO);
}
