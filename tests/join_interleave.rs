//! Random interleavings for the multi-input operators and `share()`: spurious `Pending`s from
//! `interleave_pending()` on every input, and emitter tasks that yield a proptest-chosen number of
//! times between rendezvous emits. No item may be lost or duplicated: union gives the same
//! multiset (each input's order kept), zip the exact pairs, combine_latest outputs that each
//! advance one input by one item and end with the last items of both, share every item to every
//! branch.

use std::future::Future;
use std::time::Duration;

use futures::stream::{self, BoxStream};
use futures_test::stream::StreamTestExt;
use proptest::prelude::*;
use rivulet::prelude::*;

/// Runs `f` on a fresh current-thread runtime with the paused clock, failing on a deadlock (the
/// timeout fires as soon as every task is stuck).
fn run<F: Future>(f: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), f)
            .await
            .expect("deadlock: the pipeline never finished")
    })
}

/// Emits `items` into `source` from a task of its own, yielding `pauses[i % len]` times before
/// item i, then closes the source.
fn emitter<T: Clone + Send + 'static>(
    source: Source<T>,
    items: Vec<T>,
    pauses: Vec<u8>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for (i, x) in items.into_iter().enumerate() {
            for _ in 0..pauses.get(i % pauses.len().max(1)).copied().unwrap_or(0) {
                tokio::task::yield_now().await;
            }
            source.emit(x).await.unwrap();
        }
        source.close();
    })
}

/// A stream of `items` that is pending every other poll (waking itself).
fn flaky<T: Send + 'static>(items: Vec<T>) -> BoxStream<'static, T> {
    stream::iter(items).interleave_pending().boxed()
}

/// Items tagged with their input and their position in it, so that losses, duplicates and
/// reordering show.
fn tagged(input: usize, values: &[i32]) -> Vec<(usize, usize, i32)> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| (input, i, v))
        .collect()
}

/// Union's output holds every input item once, each input's items in their order.
fn check_union(out: &[(usize, usize, i32)], inputs: &[Vec<i32>]) -> Result<(), TestCaseError> {
    let mut sorted = out.to_vec();
    sorted.sort();
    let want: Vec<_> = inputs
        .iter()
        .enumerate()
        .flat_map(|(k, v)| tagged(k, v))
        .collect();
    prop_assert_eq!(sorted, want);
    for k in 0..inputs.len() {
        let positions: Vec<usize> = out.iter().filter(|x| x.0 == k).map(|x| x.1).collect();
        prop_assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "input {} reordered",
            k
        );
    }
    Ok(())
}

/// combine_latest's outputs, as positions in `a` and `b`: the first is made by the first item of
/// one side, each next one by exactly one item of one side, the last pairs the last items.
fn check_latest(out: &[(usize, usize)], len_a: usize, len_b: usize) -> Result<(), TestCaseError> {
    if len_a == 0 || len_b == 0 {
        prop_assert!(out.is_empty());
        return Ok(());
    }
    prop_assert!(!out.is_empty());
    prop_assert!(out[0].0 == 0 || out[0].1 == 0, "first output {:?}", out[0]);
    for w in out.windows(2) {
        let ((i, j), (k, l)) = (w[0], w[1]);
        prop_assert!(
            (k == i + 1 && l == j) || (k == i && l == j + 1),
            "{:?} -> {:?} is not one item of one side",
            w[0],
            w[1]
        );
    }
    prop_assert_eq!(out.last().copied(), Some((len_a - 1, len_b - 1)));
    Ok(())
}

fn values() -> impl Strategy<Value = Vec<i32>> {
    proptest::collection::vec(any::<i32>(), 0..40)
}

fn pauses() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(0u8..4, 1..16)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn union_with_spurious_pendings(inputs in proptest::collection::vec(values(), 0..5)) {
        let streams: Vec<_> = inputs.iter().enumerate().map(|(k, v)| flaky(tagged(k, v))).collect();
        let out: Vec<_> = futures::executor::block_on(rivulet::union(streams).collect());
        check_union(&out, &inputs)?;

        let two = [inputs.first().cloned().unwrap_or_default(), inputs.last().cloned().unwrap_or_default()];
        let out: Vec<_> = futures::executor::block_on(
            flaky(tagged(0, &two[0])).union(flaky(tagged(1, &two[1]))).collect(),
        );
        check_union(&out, &two)?;
    }

    #[test]
    fn union_of_sources_fed_by_racing_tasks(a in values(), b in values(), pa in pauses(), pb in pauses()) {
        let out = run(async {
            let (sa, sb) = (Source::new(), Source::new());
            let list = sa.stream().union(sb.stream()).sink_to_list();
            let ta = emitter(sa, tagged(0, &a), pa);
            let tb = emitter(sb, tagged(1, &b), pb);
            ta.await.unwrap();
            tb.await.unwrap();
            list.await.unwrap()
        });
        check_union(&out, &[a, b])?;
    }

    #[test]
    fn zip_with_spurious_pendings(a in values(), b in values(), c in values()) {
        let want: Vec<(i32, i32)> = a.iter().copied().zip(b.iter().copied()).collect();
        let out: Vec<_> = futures::executor::block_on(flaky(a.clone()).zip_with(flaky(b.clone())).collect());
        prop_assert_eq!(&out, &want);

        let want3: Vec<(i32, i32, i32)> =
            want.iter().zip(c.iter()).map(|(&(x, y), &z)| (x, y, z)).collect();
        let out3: Vec<_> = futures::executor::block_on(
            rivulet::zip3(flaky(a.clone()), flaky(b.clone()), flaky(c.clone())).collect(),
        );
        prop_assert_eq!(&out3, &want3);

        let rows: Vec<Vec<i32>> = futures::executor::block_on(
            rivulet::zip_all(vec![flaky(a), flaky(b), flaky(c)]).collect(),
        );
        let as_triples: Vec<_> = rows.iter().map(|r| (r[0], r[1], r[2])).collect();
        prop_assert_eq!(as_triples, want3);
    }

    #[test]
    fn zip_of_sources_fed_by_racing_tasks(a in values(), b in values(), pa in pauses(), pb in pauses()) {
        let out = run(async {
            let (sa, sb) = (Source::new(), Source::new());
            let list = sa.stream().zip_with(sb.stream()).sink_to_list();
            let ta = emitter(sa, a.clone(), pa);
            let tb = emitter(sb, b.clone(), pb);
            ta.await.unwrap();
            tb.await.unwrap();
            list.await.unwrap()
        });
        let want: Vec<(i32, i32)> = a.into_iter().zip(b).collect();
        prop_assert_eq!(out, want);
    }

    #[test]
    fn combine_latest_with_spurious_pendings(len_a in 0usize..40, len_b in 0usize..40) {
        let out: Vec<_> = futures::executor::block_on(
            flaky((0..len_a).collect()).combine_latest(flaky((0..len_b).collect())).collect(),
        );
        check_latest(&out, len_a, len_b)?;
    }

    #[test]
    fn combine_latest_of_sources_fed_by_racing_tasks(
        len_a in 0usize..40,
        len_b in 0usize..40,
        pa in pauses(),
        pb in pauses(),
    ) {
        let out = run(async {
            let (sa, sb) = (Source::new(), Source::new());
            let list = sa.stream().combine_latest(sb.stream()).sink_to_list();
            let ta = emitter(sa, (0..len_a).collect(), pa);
            let tb = emitter(sb, (0..len_b).collect(), pb);
            ta.await.unwrap();
            tb.await.unwrap();
            list.await.unwrap()
        });
        check_latest(&out, len_a, len_b)?;
    }

    /// Every branch of a `share()` gets every item, in order, whatever the pace of each.
    #[test]
    fn share_gives_every_item_to_every_branch(v in values(), branches in 1usize..5) {
        let shared = flaky(v.clone()).share();
        let clones: Vec<_> = (0..branches).map(|_| shared.clone().interleave_pending()).collect();
        drop(shared);
        let outs = futures::executor::block_on(futures::future::join_all(
            clones.into_iter().map(|c| c.collect::<Vec<_>>()),
        ));
        for out in outs {
            prop_assert_eq!(&out, &v);
        }
    }

    /// A branch that leaves early (dropped after `k` items) holds nobody up, and loses nothing for
    /// the others.
    #[test]
    fn share_with_a_branch_that_leaves_early(v in values(), k in 0usize..50) {
        let shared = flaky(v.clone()).share();
        let quitter = shared.clone().interleave_pending();
        let (all, first_k) = futures::executor::block_on(async move {
            futures::join!(
                shared.interleave_pending().collect::<Vec<_>>(),
                async move { quitter.take(k).collect::<Vec<_>>().await },
            )
        });
        prop_assert_eq!(&all, &v);
        prop_assert_eq!(&first_k[..], &v[..k.min(v.len())]);
    }

    /// Joins of the branches of one `share()`: zip pairs each item with itself, union gives each
    /// item twice, combine_latest steps through the items one branch at a time.
    #[test]
    fn joins_of_shared_branches(len in 0usize..40) {
        let v: Vec<usize> = (0..len).collect();
        let shared = flaky(v.clone()).share();
        let zipped: Vec<_> = futures::executor::block_on(
            shared.clone().interleave_pending().zip_with(shared.interleave_pending()).collect(),
        );
        prop_assert_eq!(zipped, v.iter().map(|&x| (x, x)).collect::<Vec<_>>());

        let shared = flaky(v.clone()).share();
        let mut both: Vec<_> = futures::executor::block_on(shared.clone().union(shared).collect());
        both.sort();
        prop_assert_eq!(both, v.iter().flat_map(|&x| [x, x]).collect::<Vec<_>>());

        let shared = flaky(v.clone()).share();
        let latest: Vec<_> = futures::executor::block_on(
            shared.clone().combine_latest(shared.interleave_pending()).collect(),
        );
        check_latest(&latest, len, len)?;
    }

    /// The same with a rendezvous `Source` upstream fed by one task: every emit returns.
    #[test]
    fn shared_source_branches_joined(v in values()) {
        let (zipped, unioned) = run(async {
            let source = Source::new();
            let shared = source.stream().share();
            let zipped = shared.clone().zip_with(shared.clone()).sink_to_list();
            let unioned = shared.clone().union(shared).sink_to_list();
            for &x in &v {
                source.emit(x).await.unwrap();
            }
            source.close();
            (zipped.await.unwrap(), unioned.await.unwrap())
        });
        prop_assert_eq!(zipped, v.iter().map(|&x| (x, x)).collect::<Vec<_>>());
        prop_assert_eq!(unioned, v.iter().flat_map(|&x| [x, x]).collect::<Vec<_>>());
    }
}
