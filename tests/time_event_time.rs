//! Event-time windows: tumbling, sliding and session windows against a sort-then-group model
//! over random out-of-order input, the watermark, lateness, keys, the idle timeout on tokio's
//! paused clock, and the timestamp types.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::executor::block_on;
use proptest::prelude::*;
use rivulet::Windowed;
use rivulet::prelude::*;
use support::within;
use tokio::time::sleep;

/// An input item: (key, timestamp, arrival number) — the arrival number makes items distinct.
type Item = (u8, u64, usize);
/// A window as the model and the test compare them: (start, end, key, items).
type Win = (u64, u64, u8, Vec<Item>);

fn tag(input: &[(u8, u64)]) -> Vec<Item> {
    input
        .iter()
        .enumerate()
        .map(|(i, &(k, ts))| (k, ts, i))
        .collect()
}

/// Splits an output into its windows and its late items, each in the order they came.
fn split(out: Vec<Windowed<Item, u8>>) -> (Vec<Win>, Vec<Item>) {
    let (mut wins, mut late) = (Vec::new(), Vec::new());
    for w in out {
        match w {
            Windowed::Window {
                start,
                end,
                key,
                items,
            } => wins.push((start, end, key, items)),
            Windowed::Late(x) => late.push(x),
        }
    }
    (wins, late)
}

/// The watermark before an item: the largest earlier timestamp minus `delay` (saturating).
fn closed(max_ts: Option<u64>, delay: u64, lateness: u64, end: u64) -> bool {
    max_ts.is_some_and(|m| m.saturating_sub(delay) > end.saturating_add(lateness))
}

/// Sort-then-group: each accepted (start, end, key, item) grouped by window, windows in order of
/// end, then key, then start; items in arrival order.
fn group(mut assigned: Vec<(u64, u64, u8, Item)>) -> Vec<Win> {
    assigned.sort_by_key(|&(start, end, key, item)| (end, key, start, item.2));
    let mut wins: Vec<Win> = Vec::new();
    for (start, end, key, item) in assigned {
        match wins.last_mut() {
            Some(w) if (w.0, w.1, w.2) == (start, end, key) => w.3.push(item),
            _ => wins.push((start, end, key, vec![item])),
        }
    }
    wins
}

/// The model of tumbling (`every == size`) and sliding windows: an item goes into each window
/// that holds it and has not closed; late when there is none.
fn model_fixed(
    items: &[Item],
    delay: u64,
    size: u64,
    every: u64,
    lateness: u64,
) -> (Vec<Win>, Vec<Item>) {
    let (mut assigned, mut late, mut max_ts) = (Vec::new(), Vec::new(), None::<u64>);
    for &item in items {
        let (key, ts, _) = item;
        let open: Vec<u64> = (0..=ts)
            .step_by(every as usize)
            .filter(|s| s + size > ts && !closed(max_ts, delay, lateness, s + size))
            .collect();
        if open.is_empty() {
            late.push(item);
        }
        for s in open {
            assigned.push((s, s + size, key, item));
        }
        max_ts = max_ts.max(Some(ts));
    }
    (group(assigned), late)
}

/// Sessions of one key's items, by sorting and grouping: (start, end) of each.
fn sessions(items: &[Item], gap: u64) -> Vec<(u64, u64, Vec<Item>)> {
    let mut sorted = items.to_vec();
    sorted.sort_by_key(|&(_, ts, i)| (ts, i));
    let mut out: Vec<(u64, u64, Vec<Item>)> = Vec::new();
    for item in sorted {
        match out.last_mut() {
            Some(s) if item.1 < s.1 => {
                s.1 = s.1.max(item.1 + gap);
                s.2.push(item);
            }
            _ => out.push((item.1, item.1 + gap, vec![item])),
        }
    }
    out
}

/// The model of session windows: an item is late when its own [ts, ts + gap) has closed, or it
/// touches a session (of the items accepted so far) that has closed; the windows are the
/// sessions of the accepted items.
fn model_session(items: &[Item], delay: u64, gap: u64, lateness: u64) -> (Vec<Win>, Vec<Item>) {
    let (mut accepted, mut late, mut max_ts) = (Vec::<Item>::new(), Vec::new(), None::<u64>);
    for &item in items {
        let (key, ts, _) = item;
        let mine: Vec<Item> = accepted.iter().copied().filter(|x| x.0 == key).collect();
        let touches_closed = sessions(&mine, gap)
            .iter()
            .any(|&(s, e, _)| closed(max_ts, delay, lateness, e) && s < ts + gap && e > ts);
        if closed(max_ts, delay, lateness, ts + gap) || touches_closed {
            late.push(item);
        } else {
            accepted.push(item);
        }
        max_ts = max_ts.max(Some(ts));
    }
    let mut assigned = Vec::new();
    for key in 0..=u8::MAX {
        let mine: Vec<Item> = accepted.iter().copied().filter(|x| x.0 == key).collect();
        for (s, e, members) in sessions(&mine, gap) {
            assigned.extend(members.into_iter().map(|x| (s, e, key, x)));
        }
    }
    (group(assigned), late)
}

/// The whole output the model expects, in order: after each item, the item itself if it was
/// late, then the windows that its watermark closes (in order of end, key, start); at the end,
/// the windows still open. A window closes at the first item after which the watermark is
/// strictly past its end plus the lateness.
fn sequence(
    items: &[Item],
    (wins, late): (Vec<Win>, Vec<Item>),
    delay: u64,
    lateness: u64,
) -> Vec<Windowed<Item, u8>> {
    let window = |w: &Win| Windowed::Window {
        start: w.0,
        end: w.1,
        key: w.2,
        items: w.3.clone(),
    };
    let mut closes_at = vec![None; wins.len()];
    let mut max_ts = None::<u64>;
    for (i, item) in items.iter().enumerate() {
        max_ts = max_ts.max(Some(item.1));
        for (w, at) in wins.iter().zip(closes_at.iter_mut()) {
            if at.is_none() && closed(max_ts, delay, lateness, w.1) {
                *at = Some(i);
            }
        }
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if late.contains(item) {
            out.push(Windowed::Late(*item));
        }
        for (w, at) in wins.iter().zip(&closes_at) {
            if *at == Some(i) {
                out.push(window(w));
            }
        }
    }
    for (w, at) in wins.iter().zip(&closes_at) {
        if at.is_none() {
            out.push(window(w));
        }
    }
    out
}

/// Out-of-order input: a rising clock with jitter, so some items are within `max_delay` and
/// some beyond it.
fn input() -> impl Strategy<Value = Vec<(u8, u64)>> {
    prop::collection::vec((0..3_u8, 0..40_u64, 0..30_u64), 0..60).prop_map(|steps| {
        let mut now = 0;
        steps
            .into_iter()
            .map(|(key, step, back)| {
                now += step / 4;
                (key, (now + 20).saturating_sub(back))
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn tumbling_matches_sort_then_group(
        input in input(), delay in 0..25_u64, size in 1..20_u64, lateness in 0..10_u64, keyed: bool,
    ) {
        let items = tag(&input);
        let items = if keyed { items } else { items.into_iter().map(|(_, t, i)| (0, t, i)).collect() };
        let out: Vec<Windowed<Item, u8>> = block_on(
            futures::stream::iter(items.clone())
                .event_time(|x: &Item| x.1, delay)
                .tumbling(size)
                .allowed_lateness(lateness)
                .keyed(|x: &Item| x.0)
                .collect(),
        );
        let model = model_fixed(&items, delay, size, size, lateness);
        prop_assert_eq!(split(out.clone()), model.clone());
        prop_assert_eq!(out, sequence(&items, model, delay, lateness));
    }

    #[test]
    fn sliding_matches_sort_then_group(
        input in input(), delay in 0..25_u64, size in 1..20_u64, every_frac in 1..=4_u64, lateness in 0..10_u64,
    ) {
        let every = (size * every_frac / 4).max(1);
        let items = tag(&input);
        let out: Vec<Windowed<Item, u8>> = block_on(
            futures::stream::iter(items.clone())
                .event_time(|x: &Item| x.1, delay)
                .sliding(size, every)
                .keyed(|x: &Item| x.0)
                .allowed_lateness(lateness)
                .collect(),
        );
        let model = model_fixed(&items, delay, size, every, lateness);
        prop_assert_eq!(split(out.clone()), model.clone());
        prop_assert_eq!(out, sequence(&items, model, delay, lateness));
    }

    #[test]
    fn session_matches_sort_then_group(
        input in input(), delay in 0..25_u64, gap in 1..12_u64, lateness in 0..10_u64,
    ) {
        let items = tag(&input);
        let out: Vec<Windowed<Item, u8>> = block_on(
            futures::stream::iter(items.clone())
                .event_time(|x: &Item| x.1, delay)
                .session(gap)
                .keyed(|x: &Item| x.0)
                .allowed_lateness(lateness)
                .collect(),
        );
        let model = model_session(&items, delay, gap, lateness);
        prop_assert_eq!(split(out.clone()), model.clone());
        prop_assert_eq!(out, sequence(&items, model, delay, lateness));
    }

    /// Every item comes out exactly once, in a window or as late: nothing is dropped.
    #[test]
    fn nothing_is_dropped(input in input(), delay in 0..25_u64, gap in 1..12_u64) {
        let items = tag(&input);
        let out: Vec<Windowed<Item>> = block_on(
            futures::stream::iter(items.clone()).event_time(|x: &Item| x.1, delay).session(gap).collect(),
        );
        let mut seen: Vec<usize> = out
            .into_iter()
            .flat_map(|w| match w {
                Windowed::Window { items, .. } => items,
                Windowed::Late(x) => vec![x],
            })
            .map(|x| x.2)
            .collect();
        seen.sort();
        prop_assert_eq!(seen, (0..items.len()).collect::<Vec<_>>());
    }
}

/// A plain simulation of unkeyed tumbling windows with an idle timeout, for items that come
/// `gaps[i]` after one another: after a pause longer than `idle`, every open window closes.
fn model_idle(
    ts: &[u64],
    gaps: &[u64],
    idle: u64,
    delay: u64,
    size: u64,
    lateness: u64,
) -> Vec<Windowed<usize>> {
    let (mut open, mut out) = (Vec::<(u64, Vec<usize>)>::new(), Vec::new());
    let (mut wm, mut idle_mark) = (None::<u64>, None::<u64>);
    let closed = |wm: Option<u64>, mark: Option<u64>, start: u64| {
        let due = start + size + lateness;
        wm.is_some_and(|w| w > due) || mark.is_some_and(|m| m >= due)
    };
    let close =
        |open: &mut Vec<(u64, Vec<usize>)>, out: &mut Vec<Windowed<usize>>, all: bool, wm, mark| {
            open.sort_by_key(|w| w.0);
            let (done, kept): (Vec<_>, Vec<_>) =
                open.drain(..).partition(|w| all || closed(wm, mark, w.0));
            *open = kept;
            out.extend(done.into_iter().map(|(start, items)| Windowed::Window {
                start,
                end: start + size,
                key: (),
                items,
            }));
        };
    for (i, (&t, &gap)) in ts.iter().zip(gaps).enumerate() {
        let start = t - t % size;
        if closed(wm, idle_mark, start) {
            out.push(Windowed::Late(i));
        } else if let Some(w) = open.iter_mut().find(|w| w.0 == start) {
            w.1.push(i);
        } else {
            open.push((start, vec![i]));
        }
        wm = wm.max(Some(t.saturating_sub(delay)));
        close(&mut open, &mut out, false, wm, idle_mark);
        if gap > idle && i + 1 < ts.len() {
            if let Some(last) = open.iter().map(|w| w.0 + size + lateness).max() {
                idle_mark = idle_mark.max(Some(last));
            }
            close(&mut open, &mut out, false, wm, idle_mark);
        }
    }
    close(&mut open, &mut out, true, wm, idle_mark);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// On the paused clock, with random pauses between items, the idle timeout closes what is
    /// open after each long pause, and the items that come later for those windows are late.
    #[test]
    fn idle_timeout_matches_a_simulation(
        steps in prop::collection::vec((0..40_u64, 0..30_u64, 0..8_u64), 0..40),
        delay in 0..25_u64, size in 1..20_u64, lateness in 0..10_u64,
    ) {
        let mut now = 0;
        let ts: Vec<u64> = steps.iter().map(|&(step, back, _)| {
            now += step / 4;
            (now + 20).saturating_sub(back)
        }).collect();
        // Pauses of even milliseconds, an odd idle timeout: no pause ties with it.
        let gaps: Vec<u64> = steps.iter().map(|s| 2 * s.2).collect();
        let idle = 7;
        let table = std::sync::Arc::new(ts.clone());
        let pauses: Vec<Duration> = gaps.iter().map(|&g| Duration::from_millis(g)).collect();
        let got: Vec<Windowed<usize>> = support::run_timed(Duration::ZERO, &pauses, Duration::ZERO, move |s| {
            s.event_time(move |i: &usize| table[*i], delay)
                .idle_timeout(Duration::from_millis(idle))
                .tumbling(size)
                .allowed_lateness(lateness)
        })
        .into_iter()
        .map(|(w, _)| w)
        .collect();
        prop_assert_eq!(got, model_idle(&ts, &gaps, idle, delay, size, lateness));
    }
}

/// With a rendezvous source, the window an item closes is out when that item's `emit` returns.
#[tokio::test(start_paused = true)]
async fn a_window_is_out_when_the_emit_that_closes_it_returns() {
    let source = Source::new();
    let list = source
        .stream()
        .event_time(|x: &u64| *x, 2)
        .tumbling(10)
        .sink_to_list();
    for x in [1, 5, 11] {
        within(source.emit(x)).await.unwrap();
    }
    assert!(list.is_empty(), "the watermark is 9: [0, 10) is still open");
    within(source.emit(12)).await.unwrap(); // watermark 10: not strictly past 10
    assert!(list.is_empty());
    within(source.emit(13)).await.unwrap(); // watermark 11
    assert_eq!(
        list.snapshot(),
        vec![Windowed::Window {
            start: 0,
            end: 10,
            key: (),
            items: vec![1, 5]
        }]
    );
    within(source.emit(3)).await.unwrap();
    assert_eq!(list.snapshot()[1], Windowed::Late(3));
    source.close();
    let all = within(list).await.unwrap();
    assert_eq!(
        all[2],
        Windowed::Window {
            start: 10,
            end: 20,
            key: (),
            items: vec![11, 12, 13]
        }
    );
}

/// Emitting many items from one task never waits on a window: the operator keeps taking.
#[tokio::test(start_paused = true)]
async fn keeps_taking_from_a_rendezvous_source() {
    let source = Source::new();
    let list = source
        .stream()
        .event_time(|x: &u64| *x, 1000)
        .session(1_000_000)
        .sink_to_list();
    for x in 0..10_000 {
        within(source.emit(x)).await.unwrap();
    }
    assert!(list.is_empty());
    source.close();
    let all = within(list).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].items().map(<[u64]>::len), Some(10_000));
}

/// The idle timeout moves the watermark past every open window; later items for them are late.
#[tokio::test(start_paused = true)]
async fn idle_timeout_closes_open_windows() {
    let source = Source::new();
    let list = source
        .stream()
        .event_time(|x: &u64| *x, 100)
        .idle_timeout(Duration::from_secs(5))
        .tumbling(10)
        .keyed(|x: &u64| x % 2)
        .sink_to_list();
    for x in [1, 2, 13] {
        within(source.emit(x)).await.unwrap();
        sleep(Duration::from_secs(4)).await; // never idle for 5 s
    }
    assert!(list.is_empty());
    sleep(Duration::from_secs(2)).await;
    assert_eq!(
        list.snapshot(),
        vec![
            Windowed::Window {
                start: 0,
                end: 10,
                key: 0,
                items: vec![2]
            },
            Windowed::Window {
                start: 0,
                end: 10,
                key: 1,
                items: vec![1]
            },
            Windowed::Window {
                start: 10,
                end: 20,
                key: 1,
                items: vec![13]
            },
        ]
    );
    sleep(Duration::from_secs(60)).await;
    assert_eq!(
        list.len(),
        3,
        "an idle timeout with nothing open emits nothing"
    );
    within(source.emit(15)).await.unwrap();
    within(source.emit(25)).await.unwrap();
    assert_eq!(list.snapshot()[3], Windowed::Late(15));
    source.close();
    let all = within(list).await.unwrap();
    assert_eq!(
        all[4],
        Windowed::Window {
            start: 20,
            end: 30,
            key: 1,
            items: vec![25]
        }
    );
}

/// Without the idle timeout, a quiet source holds its window until it ends.
#[tokio::test(start_paused = true)]
async fn without_idle_timeout_a_quiet_source_holds_its_window() {
    let source = Source::new();
    let list = source
        .stream()
        .event_time(|x: &u64| *x, 0)
        .tumbling(10)
        .sink_to_list();
    within(source.emit(1)).await.unwrap();
    sleep(Duration::from_secs(3600)).await;
    assert!(list.is_empty());
    source.close();
    assert_eq!(within(list).await.unwrap().len(), 1);
}

#[test]
fn allowed_lateness_takes_stragglers_in() {
    let strict: Vec<Windowed<u64>> = block_on(
        futures::stream::iter([1, 25, 2])
            .event_time(|x| *x, 0)
            .tumbling(10)
            .collect(),
    );
    assert_eq!(strict[1], Windowed::Late(2));
    let lenient: Vec<Windowed<u64>> = block_on(
        futures::stream::iter([1, 25, 2])
            .event_time(|x| *x, 0)
            .tumbling(10)
            .allowed_lateness(15)
            .collect(),
    );
    assert_eq!(lenient[0].items(), Some(&[1, 2][..]));
    assert!(lenient.iter().all(|w| !w.is_late()));
}

#[test]
fn i64_timestamps_align_below_zero() {
    let out: Vec<Windowed<i64, (), i64>> = block_on(
        futures::stream::iter([-15_i64, -1, 0, 9])
            .event_time(|x| *x, 100)
            .tumbling(10)
            .collect(),
    );
    let spans: Vec<(i64, i64, usize)> = out
        .iter()
        .map(|w| match w {
            Windowed::Window {
                start, end, items, ..
            } => (*start, *end, items.len()),
            Windowed::Late(_) => panic!("nothing is late"),
        })
        .collect();
    assert_eq!(spans, vec![(-20, -10, 1), (-10, 0, 1), (0, 10, 2)]);
    // Saturation at the ends of the type does not panic.
    let edge: Vec<Windowed<i64, (), i64>> = block_on(
        futures::stream::iter([i64::MIN, i64::MAX])
            .event_time(|x| *x, i64::MAX)
            .tumbling(7)
            .collect(),
    );
    assert_eq!(edge.len(), 2);
    let edge: Vec<Windowed<u64>> = block_on(
        futures::stream::iter([u64::MAX, 0])
            .event_time(|x| *x, 0)
            .sliding(10, 3)
            .collect(),
    );
    assert!(edge.contains(&Windowed::Late(0)));
}

#[test]
fn system_time_timestamps_with_durations() {
    let t = |s: u64| UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s);
    let out: Vec<Windowed<SystemTime, (), SystemTime>> = block_on(
        futures::stream::iter([t(1), t(65), t(2), t(200)])
            .event_time(|x| *x, Duration::from_secs(30))
            .tumbling(Duration::from_secs(60))
            .collect(),
    );
    // 1_700_000_000 is 20 s past a minute.
    let minute = |m: u64| UNIX_EPOCH + Duration::from_secs(1_699_999_980 + 60 * m);
    assert_eq!(
        out[0],
        Windowed::Window {
            start: minute(0),
            end: minute(1),
            key: (),
            items: vec![t(1), t(2)]
        }
    );
    assert_eq!(out.len(), 3);
    // A delay larger than the epoch saturates: nothing closes before the end.
    let held: Vec<Windowed<SystemTime, (), SystemTime>> = block_on(
        futures::stream::iter([t(1), t(1000)])
            .event_time(|x| *x, Duration::MAX)
            .session(Duration::from_secs(1))
            .collect(),
    );
    assert_eq!(held.len(), 2);
    let before_epoch = UNIX_EPOCH - Duration::from_secs(5);
    assert_eq!(
        rivulet::Timestamp::window_start(before_epoch, Duration::from_secs(60)),
        UNIX_EPOCH - Duration::from_secs(60)
    );
}

#[test]
fn sessions_merge_across_a_bridge_and_keep_arrival_order() {
    let out: Vec<Windowed<u64>> = block_on(
        futures::stream::iter([10, 1, 6, 30, 36])
            .event_time(|x| *x, 50)
            .session(6)
            .collect(),
    );
    // 6 is less than 6 from both 1 and 10; 36 is not less than 6 from 30.
    assert_eq!(
        out,
        vec![
            Windowed::Window {
                start: 1,
                end: 16,
                key: (),
                items: vec![10, 1, 6]
            },
            Windowed::Window {
                start: 30,
                end: 36,
                key: (),
                items: vec![30]
            },
            Windowed::Window {
                start: 36,
                end: 42,
                key: (),
                items: vec![36]
            },
        ]
    );
}

#[test]
#[should_panic(expected = "tumbling: `size` must be at least 1")]
fn zero_tumbling_size_panics() {
    let _ = futures::stream::iter([1_u64])
        .event_time(|x| *x, 0)
        .tumbling(0);
}

#[test]
#[should_panic(expected = "sliding: `every` must be at least 1")]
fn zero_sliding_step_panics() {
    let _ = futures::stream::iter([1_u64])
        .event_time(|x| *x, 0)
        .sliding(10, 0);
}

#[test]
#[should_panic(expected = "sliding: `every` must be at most `size`")]
fn sliding_step_beyond_size_panics() {
    let _ = futures::stream::iter([1_u64])
        .event_time(|x| *x, 0)
        .sliding(10, 11);
}

#[test]
#[should_panic(expected = "session: `gap` must be at least 1")]
fn negative_session_gap_panics() {
    let _ = futures::stream::iter([1_i64])
        .event_time(|x| *x, 0)
        .session(-3);
}

#[test]
#[should_panic(expected = "idle_timeout: `d` must be at least 1")]
fn zero_idle_timeout_panics() {
    let _ = futures::stream::iter([1_u64])
        .event_time(|x| *x, 0)
        .idle_timeout(Duration::ZERO);
}

/// A panicking timestamp closure ends the pipeline with an error naming the operator.
#[tokio::test]
async fn a_panicking_timestamp_fn_ends_the_pipeline() {
    let list = futures::stream::iter([1_u64, 0])
        .event_time(|x| 10 / *x, 0)
        .tumbling(10)
        .sink_to_list();
    let err = list.await.unwrap_err();
    assert!(err.to_string().contains("event_time"), "{err}");
}

/// With `count_late` the late items are counted, not emitted; the windows are the same.
#[test]
fn count_late_counts_instead_of_emitting() {
    let items = [5_u64, 30, 1, 2, 31, 12, 45];
    let all: Vec<Windowed<u64>> = block_on(
        futures::stream::iter(items)
            .event_time(|x| *x, 3)
            .tumbling(10)
            .collect(),
    );
    let mut counted = futures::stream::iter(items)
        .event_time(|x| *x, 3)
        .tumbling(10)
        .count_late();
    let windows: Vec<Windowed<u64>> = block_on((&mut counted).collect());
    assert_eq!(
        windows,
        all.iter()
            .filter(|w| !w.is_late())
            .cloned()
            .collect::<Vec<_>>()
    );
    assert_eq!(counted.late_count(), 3);
    assert_eq!(all.iter().filter(|w| w.is_late()).count(), 3);

    let mut sessions = futures::stream::iter(items)
        .event_time(|x| *x, 3)
        .session(4)
        .count_late();
    let windows: Vec<Windowed<u64>> = block_on((&mut sessions).collect());
    assert!(windows.iter().all(|w| !w.is_late()));
    assert_eq!(sessions.late_count(), 3);
}

/// The idle timeout closes sessions too, and an item that would have joined one is late.
#[tokio::test(start_paused = true)]
async fn idle_timeout_closes_sessions() {
    let source = Source::new();
    let list = source
        .stream()
        .event_time(|x: &i64| *x, 1000)
        .idle_timeout(Duration::from_millis(50))
        .session(10)
        .allowed_lateness(5)
        .sink_to_list();
    for x in [-5, 0, 3] {
        within(source.emit(x)).await.unwrap();
    }
    sleep(Duration::from_millis(60)).await;
    assert_eq!(
        list.snapshot(),
        vec![Windowed::Window {
            start: -5,
            end: 13,
            key: (),
            items: vec![-5, 0, 3]
        }]
    );
    within(source.emit(8)).await.unwrap(); // would have joined [-5, 13)
    within(source.emit(100)).await.unwrap();
    source.close();
    let all = within(list).await.unwrap();
    assert_eq!(all[1], Windowed::Late(8));
    assert_eq!(
        all[2],
        Windowed::Window {
            start: 100,
            end: 110,
            key: (),
            items: vec![100]
        }
    );
}

/// Sliding windows over `SystemTime`, keyed.
#[test]
fn keyed_sliding_windows_over_system_time() {
    let t = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
    let out: Vec<Windowed<(char, SystemTime), char, SystemTime>> = block_on(
        futures::stream::iter([('x', t(65)), ('y', t(70)), ('x', t(125))])
            .event_time(|e| e.1, Duration::ZERO)
            .sliding(Duration::from_secs(120), Duration::from_secs(60))
            .keyed(|e| e.0)
            .collect(),
    );
    let spans: Vec<(u64, char, usize)> = out
        .iter()
        .map(|w| match w {
            Windowed::Window {
                start, key, items, ..
            } => {
                let secs = start.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                (secs, *key, items.len())
            }
            Windowed::Late(_) => (u64::MAX, '!', 0),
        })
        .collect();
    // 125 closes [0, 120): past its end. The rest come out at the end, by end then key.
    assert_eq!(
        spans,
        vec![
            (0, 'x', 1),
            (0, 'y', 1),
            (60, 'x', 2),
            (60, 'y', 1),
            (120, 'x', 1)
        ]
    );
}
