//! `accumulate`: streamz's `accumulate`/`scan` rows, a panicking closure, and a fold model.

use proptest::prelude::*;
use rivulet::prelude::*;

/// V18 (test_scan): `scan(f, returns_state=True)` with `f(acc, i) = (acc + i, acc + i)`.
/// streamz starts from the first item; Rust always has an `init`, and with `init = 0` the first
/// call gives the same `(0, 0)`.
#[tokio::test]
async fn v18_scan_returns_state() {
    let source = Source::new();
    let list = source
        .stream()
        .accumulate(0, |acc, i: i64| {
            *acc += i;
            *acc
        })
        .sink_to_list();
    for x in 0..3 {
        source.emit(x).await.unwrap();
    }
    assert_eq!(list.snapshot(), vec![0, 1, 3]);
}

/// V19 (test_kwargs): `scan(lambda acc, x, y: acc + x + y, y=10)`. streamz has no start there,
/// so the first item becomes the state and is emitted without calling `f`; Rust always has an
/// `init`, so that is an `Option` state filled from the first item.
#[tokio::test]
async fn v19_scan_without_start_uses_the_first_item() {
    let y = 10;
    let source = Source::new();
    let list = source
        .stream()
        .accumulate(None, move |acc: &mut Option<i64>, x: i64| {
            let next = match *acc {
                None => x,
                Some(total) => total + x + y,
            };
            *acc = Some(next);
            next
        })
        .sink_to_list();
    for x in 0..3 {
        source.emit(x).await.unwrap();
    }
    assert_eq!(list.snapshot(), vec![0, 11, 23]);
}

#[tokio::test]
async fn state_and_output_can_differ() {
    let source = Source::new();
    let means = source
        .stream()
        .accumulate((0.0, 0u32), |(sum, count), x: f64| {
            *sum += x;
            *count += 1;
            *sum / f64::from(*count)
        })
        .sink_to_list();
    for x in [2.0, 4.0, 9.0] {
        source.emit(x).await.unwrap();
    }
    assert_eq!(means.snapshot(), vec![2.0, 3.0, 5.0]);
}

/// V103 (test_accumulate_errors_raises), rivulet's way: the panic ends the pipeline and its
/// handle reports it, naming the operator.
#[tokio::test]
async fn a_panicking_closure_ends_the_pipeline_with_the_operator_named() {
    let source = Source::new();
    let list = source
        .stream()
        .accumulate(None, |acc: &mut Option<i64>, x: i64| {
            let next = acc.map_or(x, |total| total / x);
            *acc = Some(next);
            next
        })
        .sink_to_list();
    source.emit(1).await.unwrap();
    // The failed branch drops its subscription, so this emit does not wait for it.
    source.emit(0).await.unwrap();
    let message = list.await.unwrap_err().to_string();
    assert!(
        message.contains("`accumulate` closure panicked"),
        "{message}"
    );
    assert!(message.contains("divide by zero"), "{message}");
}

#[test]
fn size_hint_is_the_upstream_one() {
    let s = futures::stream::iter(0..5).accumulate(0, |acc, x| {
        *acc += x;
        *acc
    });
    assert_eq!(futures::Stream::size_hint(&s), (5, Some(5)));
}

proptest! {
    /// `accumulate` emits, after each item, what a fold over the prefix ending there gives.
    #[test]
    fn matches_a_fold(items in prop::collection::vec(any::<i32>(), 0..64)) {
        let step = |(sum, count): &mut (i64, usize), x: i32| {
            *sum += i64::from(x);
            *count += 1;
            (*sum, *count)
        };
        let got: Vec<(i64, usize)> = futures::executor::block_on(
            futures::stream::iter(items.clone()).accumulate((0, 0), step).collect(),
        );
        let expected: Vec<(i64, usize)> = (1..=items.len())
            .map(|end| {
                items[..end]
                    .iter()
                    .fold((0, 0), |(sum, count), &x| (sum + i64::from(x), count + 1))
            })
            .collect();
        prop_assert_eq!(got, expected);
    }
}
