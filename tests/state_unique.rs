//! `unique`, `unique_by`, `unique_recent`, `unique_recent_by`: streamz's rows, zero sizes, and
//! models over random inputs (a set, and a `Vec`-based LRU).

use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;

use proptest::prelude::*;
use rivulet::prelude::*;

/// V23 (test_unique).
#[tokio::test]
async fn v23_unique() {
    let source = Source::new();
    let list = source.stream().unique().sink_to_list();
    for x in [1, 2, 1] {
        source.emit(x).await.unwrap();
    }
    assert_eq!(list.snapshot(), vec![1, 2]);
}

/// V24 (test_unique_key): `unique(key=lambda x: x % 2, maxsize=1)`.
#[tokio::test]
async fn v24_unique_key() {
    let source = Source::new();
    let list = source
        .stream()
        .unique_recent_by(1, |x: &i32| x % 2)
        .sink_to_list();
    for x in [1, 2, 4, 6, 3] {
        source.emit(x).await.unwrap();
    }
    assert_eq!(list.snapshot(), vec![1, 2, 3]);
}

/// V25 (test_unique_history): `unique(maxsize=2)`, checked after each group of emits. streamz's
/// `hashable=False` variant must give the same rows; in Rust every key is hashed.
#[tokio::test]
async fn v25_unique_history() {
    let source = Source::new();
    let list = source.stream().unique_recent(2).sink_to_list();
    let steps: [(&[i32], &[i32]); 4] = [
        (&[1, 2, 1, 2, 1, 2], &[1, 2]),
        (&[3, 2], &[1, 2, 3]),
        (&[1], &[1, 2, 3, 1]),
        (&[2, 3, 2], &[1, 2, 3, 1, 3]),
    ];
    for (emits, expected) in steps {
        for &x in emits {
            source.emit(x).await.unwrap();
        }
        assert_eq!(list.snapshot(), expected, "after emitting {emits:?}");
    }
}

/// V26 (test_unique_history_dict): streamz needs `hashable=False` for dicts; a `BTreeMap` is
/// `Hash`, so the same rows come from `unique_recent`.
#[tokio::test]
async fn v26_unique_history_dict() {
    type Dict = BTreeMap<&'static str, &'static str>;
    let a: Dict = BTreeMap::from([("hi", "world")]);
    let b: Dict = BTreeMap::from([("hi", "bar")]);
    let c: Dict = BTreeMap::from([("foo", "bar")]);
    let source = Source::new();
    let list = source.stream().unique_recent(2).sink_to_list();
    let steps = [
        (vec![&a, &b, &a, &b, &a, &b], vec![&a, &b]),
        (vec![&c, &b], vec![&a, &b, &c]),
        (vec![&a], vec![&a, &b, &c, &a]),
    ];
    for (emits, expected) in steps {
        for x in emits {
            source.emit(x.clone()).await.unwrap();
        }
        let expected: Vec<Dict> = expected.into_iter().cloned().collect();
        assert_eq!(list.snapshot(), expected);
    }
}

#[tokio::test]
async fn unique_by_remembers_every_key() {
    let kept: Vec<i32> = futures::stream::iter([3, 13, 4, 23, 14, 5])
        .unique_by(|x| x % 10)
        .collect()
        .await;
    assert_eq!(kept, vec![3, 4, 5]);
}

#[tokio::test]
async fn a_panicking_key_names_the_operator() {
    let source = Source::new();
    let list = source
        .stream()
        .unique_recent_by(4, |x: &i32| 10 / x)
        .sink_to_list();
    source.emit(0).await.unwrap();
    let message = list.await.unwrap_err().to_string();
    assert!(
        message.contains("`unique_recent_by` closure panicked"),
        "{message}"
    );
}

#[test]
#[should_panic(expected = "`maxsize` must be at least 1")]
fn unique_recent_of_zero_panics() {
    let _ = futures::stream::iter(0..3).unique_recent(0);
}

#[test]
#[should_panic(expected = "`maxsize` must be at least 1")]
fn unique_recent_by_of_zero_panics() {
    let _ = futures::stream::iter(0..3).unique_recent_by(0, |x| x % 2);
}

/// streamz's `unique(maxsize=)`: a list of keys, most recent last. Every item moves its key to
/// the end; past `maxsize` keys the first is forgotten. `None` means no limit.
fn unique_model<T: Copy, K: Eq + Hash>(
    items: &[T],
    maxsize: Option<usize>,
    key: impl Fn(T) -> K,
) -> Vec<T> {
    let mut recent: Vec<K> = Vec::new();
    let mut out = Vec::new();
    for &x in items {
        let k = key(x);
        match recent.iter().position(|r| *r == k) {
            Some(at) => {
                recent.remove(at);
            }
            None => out.push(x),
        }
        recent.push(k);
        if maxsize.is_some_and(|max| recent.len() > max) {
            recent.remove(0);
        }
    }
    out
}

fn collect<S: futures::Stream>(stream: S) -> Vec<S::Item> {
    futures::executor::block_on(stream.collect())
}

proptest! {
    #[test]
    fn unique_keeps_first_occurrences(items in prop::collection::vec(0u8..20, 0..100)) {
        let got = collect(futures::stream::iter(items.clone()).unique());
        let mut seen = HashSet::new();
        let expected: Vec<u8> = items.iter().copied().filter(|x| seen.insert(*x)).collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn unique_by_matches_the_model(
        items in prop::collection::vec(any::<u8>(), 0..100),
        modulus in 1u8..12,
    ) {
        let got = collect(futures::stream::iter(items.clone()).unique_by(|x| x % modulus));
        prop_assert_eq!(got, unique_model(&items, None, |x| x % modulus));
    }

    /// Small key ranges and long inputs, so keys are refreshed, forgotten and swept often.
    #[test]
    fn unique_recent_matches_an_lru(
        items in prop::collection::vec(0u8..10, 0..300),
        maxsize in 1usize..8,
    ) {
        let got = collect(futures::stream::iter(items.clone()).unique_recent(maxsize));
        prop_assert_eq!(got, unique_model(&items, Some(maxsize), |x| x));
    }

    #[test]
    fn unique_recent_by_matches_an_lru(
        items in prop::collection::vec(any::<u8>(), 0..300),
        maxsize in 1usize..8,
        modulus in 1u8..12,
    ) {
        let got = collect(
            futures::stream::iter(items.clone()).unique_recent_by(maxsize, |x| x % modulus),
        );
        prop_assert_eq!(got, unique_model(&items, Some(maxsize), |x| x % modulus));
    }
}
