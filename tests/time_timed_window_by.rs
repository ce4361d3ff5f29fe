//! `timed_window_by`: timed windows grouped by key, on tokio's paused clock and against a model.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use rivulet::prelude::*;
use support::{run_timed, within};
use tokio::time::sleep;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An even interval and emits at odd milliseconds, so no emit ties with a window's close.
const EVERY: Duration = Duration::from_millis(10);

type Groups = Vec<(usize, Vec<usize>)>;

/// Groups the items `(time, item)` of one window by `item % 3`, keys in first-seen order.
fn group(items: &[(Duration, usize)]) -> Groups {
    let mut groups: Groups = Vec::new();
    for &(_, i) in items {
        match groups.iter_mut().find(|g| g.0 == i % 3) {
            Some(g) => g.1.push(i),
            None => groups.push((i % 3, vec![i])),
        }
    }
    groups
}

proptest! {
    /// Every interval, empty or not, emits its items grouped by key; the last window comes out
    /// when the source closes.
    #[test]
    fn matches_the_model(pauses in prop::collection::vec(0..13_u64, 0..40), tail in 0..20_u64) {
        let pauses: Vec<Duration> = pauses.into_iter().map(|p| ms(2 * p)).collect();
        let tail = ms(2 * tail);
        let got = run_timed(ms(1), &pauses, tail, |s| s.timed_window_by(EVERY, |i: &usize| i % 3));
        let mut t = ms(1);
        let mut arrivals = Vec::new();
        for (i, pause) in pauses.iter().enumerate() {
            arrivals.push((t, i));
            t += *pause;
        }
        let close = t + tail;
        let mut expected = Vec::new();
        let mut tick = EVERY;
        while tick < close {
            let window: Vec<_> =
                arrivals.iter().copied().filter(|&(at, _)| at < tick && at + EVERY > tick).collect();
            expected.push((group(&window), tick));
            tick += EVERY;
        }
        let last: Vec<_> = arrivals.iter().copied().filter(|&(at, _)| at + EVERY > tick).collect();
        expected.push((group(&last), close));
        prop_assert_eq!(got, expected);
    }
}

#[tokio::test(start_paused = true)]
async fn groups_by_key_in_first_seen_order() {
    let source = Source::new();
    let list = source
        .stream()
        .timed_window_by(ms(100), |x: &u32| x % 2 == 0)
        .sink_to_list();
    for x in [1, 2, 3, 4, 5] {
        within(source.emit(x)).await.unwrap();
    }
    sleep(ms(150)).await;
    within(source.emit(6)).await.unwrap();
    sleep(ms(100)).await;
    assert_eq!(
        list.snapshot(),
        vec![
            vec![(false, vec![1, 3, 5]), (true, vec![2, 4])],
            vec![(true, vec![6])]
        ]
    );
    sleep(ms(100)).await;
    assert_eq!(
        list.snapshot()[2],
        vec![],
        "empty intervals emit an empty Vec"
    );
}

#[test]
#[should_panic(expected = "timed_window_by: `dur` must be at least 1ns")]
fn zero_duration_panics() {
    let _ = futures::stream::iter([1]).timed_window_by(Duration::ZERO, |x| *x);
}
