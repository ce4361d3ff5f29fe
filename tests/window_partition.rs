//! `partition`, `partition_by` and `partition_unique`: streamz's rows, the batches flushed when
//! the upstream ends, zero sizes, and models over random inputs.

use std::collections::HashSet;
use std::hash::Hash;

use proptest::prelude::*;
use rivulet::ops::Keep;
use rivulet::prelude::*;

/// V28 (test_partition).
#[tokio::test]
async fn v28_partition() {
    let source = Source::new();
    let list = source.stream().partition(2).sink_to_list();
    for x in 0..10 {
        source.emit(x).await.unwrap();
    }
    assert_eq!(
        list.snapshot(),
        vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7], vec![8, 9]]
    );
}

#[tokio::test]
async fn partition_emits_the_partial_batch_when_the_upstream_ends() {
    let source = Source::new();
    let list = source.stream().partition(3).sink_to_list();
    for x in 0..5 {
        source.emit(x).await.unwrap();
    }
    assert_eq!(list.snapshot(), vec![vec![0, 1, 2]]);
    source.close();
    assert_eq!(list.await.unwrap(), vec![vec![0, 1, 2], vec![3, 4]]);
}

#[tokio::test]
async fn partition_emits_no_empty_batch() {
    let batches: Vec<Vec<i32>> = futures::stream::iter(0..4).partition(2).collect().await;
    assert_eq!(batches, vec![vec![0, 1], vec![2, 3]]);
    let none: Vec<Vec<i32>> = futures::stream::iter(0..0).partition(2).collect().await;
    assert!(none.is_empty());
}

#[test]
fn partition_size_hint_counts_the_partial_batch() {
    let s = futures::stream::iter(0..7).partition(3);
    assert_eq!(futures::Stream::size_hint(&s), (3, Some(3)));
}

/// V29 (test_partition_key): `partition(2, key=0)` over `(i % 2, i)`.
#[tokio::test]
async fn v29_partition_key() {
    let source = Source::new();
    let list = source
        .stream()
        .partition_by(2, |x: &(i32, i32)| x.0)
        .sink_to_list();
    for i in 0..4 {
        source.emit((i % 2, i)).await.unwrap();
    }
    assert_eq!(
        list.snapshot(),
        vec![vec![(0, 0), (0, 2)], vec![(1, 1), (1, 3)]]
    );
}

/// V30 (test_partition_key_callable): 8 and 9 stay buffered until the upstream ends, then come
/// out in the order their keys were first seen.
#[tokio::test]
async fn v30_partition_key_callable() {
    let source = Source::new();
    let list = source
        .stream()
        .partition_by(2, |x: &i32| x % 2)
        .sink_to_list();
    for x in 0..10 {
        source.emit(x).await.unwrap();
    }
    let full = vec![vec![0, 2], vec![1, 3], vec![4, 6], vec![5, 7]];
    assert_eq!(list.snapshot(), full);
    source.close();
    let mut all = full;
    all.extend([vec![8], vec![9]]);
    assert_eq!(list.await.unwrap(), all);
}

#[tokio::test]
async fn partition_by_flushes_the_oldest_partial_batch_first() {
    // "a" fills a batch and starts a new one after "b" started its own, so "b" is older.
    let items = [("a", 1), ("b", 1), ("a", 2), ("a", 3)];
    let batches: Vec<Vec<(&str, i32)>> = futures::stream::iter(items)
        .partition_by(2, |x| x.0)
        .collect()
        .await;
    assert_eq!(
        batches,
        vec![vec![("a", 1), ("a", 2)], vec![("b", 1)], vec![("a", 3)]]
    );
}

#[derive(Debug, Clone, PartialEq)]
struct Record {
    id: u32,
    foo: &'static str,
}

fn rec(id: u32, text: &'static str) -> Record {
    Record { id, foo: text }
}

/// Emits `items` one by one into `partition_unique(n, key, keep)`; what the list holds after the
/// last emit (before the upstream ends).
async fn partition_unique_rows<T, K>(
    items: Vec<T>,
    n: usize,
    key: fn(&T) -> K,
    keep: Keep,
) -> Vec<Vec<T>>
where
    T: Clone + Send + 'static,
    K: Hash + Eq + Send + 'static,
{
    let source = Source::new();
    let list = source
        .stream()
        .partition_unique(n, key, keep)
        .sink_to_list();
    for x in items {
        source.emit(x).await.unwrap();
    }
    list.snapshot()
}

/// V32 (test_partition_unique), all five parameter rows.
#[tokio::test]
async fn v32_partition_unique() {
    let ints = vec![1, 2, 1, 3, 1, 3, 3, 2];
    assert_eq!(
        partition_unique_rows(ints.clone(), 3, |x: &i32| *x, Keep::First).await,
        vec![vec![1, 2, 3], vec![1, 3, 2]]
    );
    assert_eq!(
        partition_unique_rows(ints, 3, |x: &i32| *x, Keep::Last).await,
        vec![vec![2, 1, 3], vec![1, 3, 2]]
    );

    let words = vec!["f", "fo", "f", "foo", "f", "foo", "foo", "fo"];
    assert_eq!(
        partition_unique_rows(words, 3, |w: &&str| w.len(), Keep::Last).await,
        vec![vec!["fo", "f", "foo"], vec!["f", "foo", "fo"]]
    );

    let records = vec![rec(0, "bar"), rec(0, "baz"), rec(1, "bat")];
    assert_eq!(
        partition_unique_rows(records.clone(), 2, |r: &Record| r.id, Keep::First).await,
        vec![vec![rec(0, "bar"), rec(1, "bat")]]
    );
    assert_eq!(
        partition_unique_rows(records, 2, |r: &Record| r.id, Keep::Last).await,
        vec![vec![rec(0, "baz"), rec(1, "bat")]]
    );
}

#[tokio::test]
async fn partition_unique_emits_the_partial_batch_when_the_upstream_ends() {
    let source = Source::new();
    let list = source
        .stream()
        .partition_unique(3, |x: &i32| *x, Keep::Last)
        .sink_to_list();
    for x in [1, 2, 3, 4, 4, 5, 4] {
        source.emit(x).await.unwrap();
    }
    assert_eq!(list.snapshot(), vec![vec![1, 2, 3]]);
    source.close();
    assert_eq!(list.await.unwrap(), vec![vec![1, 2, 3], vec![5, 4]]);
}

#[tokio::test]
async fn partition_unique_keep_last_survives_long_runs_of_repeats() {
    let mut items: Vec<i32> = (0..1000).map(|i| i % 2).collect();
    items.push(7);
    let batches: Vec<Vec<i32>> = futures::stream::iter(items)
        .partition_unique(3, |x| *x, Keep::Last)
        .collect()
        .await;
    assert_eq!(batches, vec![vec![0, 1, 7]]);
}

#[test]
#[should_panic(expected = "`n` must be at least 1")]
fn partition_of_zero_panics() {
    let _ = futures::stream::iter(0..3).partition(0);
}

#[test]
#[should_panic(expected = "`n` must be at least 1")]
fn partition_by_of_zero_panics() {
    let _ = futures::stream::iter(0..3).partition_by(0, |x| x % 2);
}

#[test]
#[should_panic(expected = "`n` must be at least 1")]
fn partition_unique_of_zero_panics() {
    let _ = futures::stream::iter(0..3).partition_unique(0, |x| *x, Keep::First);
}

/// `partition_by`'s model: pending batches in the order they were started.
fn partition_by_model(items: &[u8], n: usize, modulus: u8) -> Vec<Vec<u8>> {
    let mut pending: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut out = Vec::new();
    for &x in items {
        let key = x % modulus;
        let at = match pending.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                pending.push((key, Vec::new()));
                pending.len() - 1
            }
        };
        pending[at].1.push(x);
        if pending[at].1.len() == n {
            out.push(pending.remove(at).1);
        }
    }
    out.extend(pending.into_iter().map(|(_, batch)| batch));
    out
}

/// `partition_unique`'s model: a batch as a plain `Vec`, searched linearly.
fn partition_unique_model(items: &[u8], n: usize, modulus: u8, keep: Keep) -> Vec<Vec<u8>> {
    let mut batch: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for &x in items {
        let existing = batch.iter().position(|y| y % modulus == x % modulus);
        match (existing, keep) {
            (Some(_), Keep::First) => continue,
            (Some(at), Keep::Last) => {
                batch.remove(at);
                batch.push(x);
            }
            (None, _) => batch.push(x),
        }
        let keys: HashSet<u8> = batch.iter().map(|y| y % modulus).collect();
        if keys.len() == n {
            out.push(std::mem::take(&mut batch));
        }
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    out
}

fn collect<S: futures::Stream>(stream: S) -> Vec<S::Item> {
    futures::executor::block_on(stream.collect())
}

proptest! {
    #[test]
    fn partition_matches_chunks(
        items in prop::collection::vec(any::<u16>(), 0..100),
        n in 1usize..12,
    ) {
        let got = collect(futures::stream::iter(items.clone()).partition(n));
        let expected: Vec<Vec<u16>> = items.chunks(n).map(<[u16]>::to_vec).collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn partition_by_matches_its_model(
        items in prop::collection::vec(any::<u8>(), 0..100),
        n in 1usize..6,
        modulus in 1u8..6,
    ) {
        let got = collect(futures::stream::iter(items.clone()).partition_by(n, |x| x % modulus));
        prop_assert_eq!(got, partition_by_model(&items, n, modulus));
    }

    #[test]
    fn partition_unique_matches_its_model(
        items in prop::collection::vec(any::<u8>(), 0..200),
        n in 1usize..6,
        modulus in 1u8..8,
        last in any::<bool>(),
    ) {
        let keep = if last { Keep::Last } else { Keep::First };
        let got = collect(
            futures::stream::iter(items.clone()).partition_unique(n, |x| x % modulus, keep),
        );
        prop_assert_eq!(got, partition_unique_model(&items, n, modulus, keep));
    }
}
