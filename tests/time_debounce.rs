//! `debounce` on tokio's paused clock, and against a model over random gaps.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use rivulet::prelude::*;
use support::{run_timed, within};
use tokio::time::{Instant, sleep};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An odd quiet spell, and even gaps between emits, so that no emit ties with a deadline
/// (tokio's timers have millisecond resolution).
const QUIET: Duration = Duration::from_millis(11);

proptest! {
    /// Item i comes out iff the next one came more than the quiet spell later (or it is the
    /// last), exactly the quiet spell after it came in.
    #[test]
    fn matches_the_model(gaps in prop::collection::vec(0..13_u64, 0..40)) {
        let gaps: Vec<Duration> = gaps.into_iter().map(|g| ms(2 * g)).collect();
        let got = run_timed(Duration::ZERO, &gaps, ms(100), |s| s.debounce(QUIET));
        let mut expected = Vec::new();
        let mut t = Duration::ZERO;
        for (i, gap) in gaps.iter().enumerate() {
            if i + 1 == gaps.len() || *gap > QUIET {
                expected.push((i, t + QUIET));
            }
            t += *gap;
        }
        prop_assert_eq!(got, expected);
    }
}

#[tokio::test(start_paused = true)]
async fn a_burst_comes_out_as_its_last_item() {
    let start = Instant::now();
    let source = Source::new();
    let list = source
        .stream()
        .debounce(ms(50))
        .map(move |x: u32| (x, start.elapsed()))
        .sink_to_list();
    for x in 0..5 {
        within(source.emit(x)).await.unwrap();
        sleep(ms(20)).await;
    }
    assert_eq!(start.elapsed(), ms(100), "debounce takes items at once");
    assert!(list.is_empty());
    sleep(ms(100)).await;
    assert_eq!(list.snapshot(), vec![(4, ms(130))]);
}

#[tokio::test(start_paused = true)]
async fn a_held_item_comes_out_at_once_when_the_upstream_ends() {
    let start = Instant::now();
    let source = Source::new();
    let list = source
        .stream()
        .debounce(ms(500))
        .map(move |x: u32| (x, start.elapsed()))
        .sink_to_list();
    within(source.emit(7)).await.unwrap();
    sleep(ms(10)).await;
    source.close();
    assert_eq!(within(list).await.unwrap(), vec![(7, ms(10))]);
}

#[tokio::test]
async fn an_always_ready_upstream_keeps_only_the_newest() {
    let got: Vec<u32> = futures::stream::iter(0..1000)
        .debounce(ms(1))
        .collect()
        .await;
    assert_eq!(got, vec![999]);
}

#[test]
#[should_panic(expected = "debounce: `dur` must be at least 1ns")]
fn zero_duration_panics() {
    let _ = futures::stream::iter([1]).debounce(Duration::ZERO);
}
