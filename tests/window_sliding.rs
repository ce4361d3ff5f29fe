//! `sliding_window`: streamz's row, zero size, and `slice::windows` as the model.

use proptest::prelude::*;
use rivulet::prelude::*;

/// V33 (test_sliding_window): `sliding_window(2)` (partial windows first) and
/// `sliding_window(2, return_partial=False)`.
#[tokio::test]
async fn v33_sliding_window() {
    let source = Source::new();
    let partial = source.stream().sliding_window(2, true).sink_to_list();
    let full = source.stream().sliding_window(2, false).sink_to_list();
    for x in 0..10 {
        source.emit(x).await.unwrap();
    }
    let pairs: Vec<Vec<i32>> = (0..9).map(|i| vec![i, i + 1]).collect();
    let mut with_prefix = vec![vec![0]];
    with_prefix.extend(pairs.iter().cloned());
    assert_eq!(partial.snapshot(), with_prefix);
    assert_eq!(full.snapshot(), pairs);
}

#[tokio::test]
async fn a_window_of_one_is_each_item() {
    let windows: Vec<Vec<char>> = futures::stream::iter("abc".chars())
        .sliding_window(1, false)
        .collect()
        .await;
    assert_eq!(windows, vec![vec!['a'], vec!['b'], vec!['c']]);
}

#[test]
fn size_hint_leaves_out_the_filling_items() {
    let full = futures::stream::iter(0..10).sliding_window(4, false);
    assert_eq!(futures::Stream::size_hint(&full), (7, Some(7)));
    let partial = futures::stream::iter(0..10).sliding_window(4, true);
    assert_eq!(futures::Stream::size_hint(&partial), (10, Some(10)));
}

#[test]
#[should_panic(expected = "`n` must be at least 1")]
fn a_window_of_zero_panics() {
    let _ = futures::stream::iter(0..3).sliding_window(0, true);
}

proptest! {
    /// Without partial windows the output is `slice::windows`; with them, the shorter prefixes
    /// come first.
    #[test]
    fn matches_slice_windows(
        items in prop::collection::vec(any::<i16>(), 0..60),
        n in 1usize..10,
        partial in any::<bool>(),
    ) {
        let got: Vec<Vec<i16>> = futures::executor::block_on(
            futures::stream::iter(items.clone()).sliding_window(n, partial).collect(),
        );
        let mut expected: Vec<Vec<i16>> = Vec::new();
        if partial {
            expected.extend((1..n.min(items.len() + 1)).map(|end| items[..end].to_vec()));
        }
        expected.extend(items.windows(n).map(<[i16]>::to_vec));
        prop_assert_eq!(got, expected);
    }
}
