//! `sample` on tokio's paused clock, and against a model over random gaps.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use rivulet::prelude::*;
use support::{run_timed, within};
use tokio::time::{Instant, sleep};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An even interval, and emits at odd milliseconds, so that no emit ties with a tick (tokio's
/// timers have millisecond resolution).
const EVERY: Duration = Duration::from_millis(10);

proptest! {
    /// At each tick k * EVERY, the last item that came in since the tick before, if any.
    #[test]
    fn matches_the_model(gaps in prop::collection::vec(0..13_u64, 0..40)) {
        let gaps: Vec<Duration> = gaps.into_iter().map(|g| ms(2 * g)).collect();
        let got = run_timed(ms(1), &gaps, ms(50), |s| s.sample(EVERY));
        let mut newest_by_tick: Vec<(u32, usize)> = Vec::new();
        let mut t = ms(1);
        for (i, gap) in gaps.iter().enumerate() {
            let tick = (t.as_nanos() / EVERY.as_nanos()) as u32 + 1;
            match newest_by_tick.last_mut() {
                Some(last) if last.0 == tick => last.1 = i,
                _ => newest_by_tick.push((tick, i)),
            }
            t += *gap;
        }
        let expected: Vec<(usize, Duration)> =
            newest_by_tick.into_iter().map(|(tick, i)| (i, EVERY * tick)).collect();
        prop_assert_eq!(got, expected);
    }
}

#[tokio::test(start_paused = true)]
async fn empty_intervals_emit_nothing_and_the_last_item_is_not_lost() {
    let start = Instant::now();
    let source = Source::new();
    let list = source
        .stream()
        .sample(ms(100))
        .map(move |x: u32| (x, start.elapsed()))
        .sink_to_list();
    within(source.emit(1)).await.unwrap();
    within(source.emit(2)).await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "sample takes items at once"
    );
    sleep(ms(450)).await;
    assert_eq!(list.snapshot(), vec![(2, ms(100))]);
    within(source.emit(3)).await.unwrap();
    source.close();
    assert_eq!(
        within(list).await.unwrap(),
        vec![(2, ms(100)), (3, ms(450))]
    );
}

#[test]
#[should_panic(expected = "sample: `dur` must be at least 1ns")]
fn zero_duration_panics() {
    let _ = futures::stream::iter([1]).sample(Duration::ZERO);
}
