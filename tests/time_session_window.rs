//! `session_window` (processing time) on tokio's paused clock, and against a model.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use rivulet::prelude::*;
use support::{run_timed, within};
use tokio::time::{Instant, sleep};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An odd gap, and even pauses between emits, so that no emit ties with a session's end.
const GAP: Duration = Duration::from_millis(15);

proptest! {
    /// A session ends where the pause after an item is longer than the gap, and comes out the
    /// gap after its last item.
    #[test]
    fn matches_the_model(pauses in prop::collection::vec(0..15_u64, 0..40)) {
        let pauses: Vec<Duration> = pauses.into_iter().map(|p| ms(2 * p)).collect();
        let got = run_timed(Duration::ZERO, &pauses, ms(100), |s| s.session_window(GAP));
        let (mut expected, mut current, mut t) = (Vec::new(), Vec::new(), Duration::ZERO);
        for (i, pause) in pauses.iter().enumerate() {
            current.push(i);
            if i + 1 == pauses.len() || *pause > GAP {
                expected.push((std::mem::take(&mut current), t + GAP));
            }
            t += *pause;
        }
        prop_assert_eq!(got, expected);
    }
}

#[tokio::test(start_paused = true)]
async fn a_session_ends_after_the_gap_and_the_last_at_the_end() {
    let start = Instant::now();
    let source = Source::new();
    let list = source
        .stream()
        .session_window(ms(100))
        .map(move |s: Vec<u32>| (s, start.elapsed()))
        .sink_to_list();
    for x in 0..3 {
        within(source.emit(x)).await.unwrap();
        sleep(ms(60)).await;
    }
    assert_eq!(
        start.elapsed(),
        ms(180),
        "session_window takes items at once"
    );
    sleep(ms(100)).await;
    assert_eq!(list.snapshot(), vec![(vec![0, 1, 2], ms(220))]);
    within(source.emit(3)).await.unwrap();
    sleep(ms(10)).await;
    source.close();
    assert_eq!(
        within(list).await.unwrap(),
        vec![(vec![0, 1, 2], ms(220)), (vec![3], ms(290))]
    );
}

#[tokio::test(start_paused = true)]
async fn nothing_comes_out_of_an_empty_stream() {
    let out: Vec<Vec<u8>> = futures::stream::empty()
        .session_window(ms(5))
        .collect()
        .await;
    assert!(out.is_empty());
}

#[test]
#[should_panic(expected = "session_window: `gap` must be at least 1ns")]
fn zero_gap_panics() {
    let _ = futures::stream::iter([1]).session_window(Duration::ZERO);
}
