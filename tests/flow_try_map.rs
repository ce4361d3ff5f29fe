//! `try_map` and `try_retain`: `Ok`s flow on, `Err`s go to `errors()` or are counted, and an
//! `Err` never ends the pipeline.

mod support;

use proptest::prelude::*;
use rivulet::prelude::*;
use support::within;

proptest! {
    /// The main stream is the `Ok`s in order and the error branch the `Err`s in order.
    #[test]
    fn splits_like_the_model(xs in prop::collection::vec(any::<i16>(), 0..100)) {
        let f = |x: i16| if x % 3 == 0 { Err(x) } else { Ok(i32::from(x) * 2) };
        let mut mapped = futures::stream::iter(xs.clone()).try_map(f);
        let errors = mapped.errors();
        let (oks, errs): (Vec<i32>, Vec<i16>) =
            futures::executor::block_on(async { futures::join!(mapped.collect(), errors.collect()) });
        prop_assert_eq!(oks, xs.iter().filter_map(|&x| f(x).ok()).collect::<Vec<_>>());
        prop_assert_eq!(errs, xs.iter().filter_map(|&x| f(x).err()).collect::<Vec<_>>());

        let pred = |x: &i16| if x % 5 == 0 { Err(*x) } else { Ok(x % 2 == 0) };
        let mut kept = futures::stream::iter(xs.clone()).try_retain(pred);
        let errors = kept.errors();
        let (oks, errs): (Vec<i16>, Vec<i16>) =
            futures::executor::block_on(async { futures::join!(kept.collect(), errors.collect()) });
        prop_assert_eq!(oks, xs.iter().copied().filter(|x| pred(x) == Ok(true)).collect::<Vec<_>>());
        prop_assert_eq!(errs, xs.iter().filter_map(|x| pred(x).err()).collect::<Vec<_>>());
    }
}

/// Errors nobody takes are counted, and the stream goes on.
#[tokio::test]
async fn errors_nobody_takes_are_counted() {
    let mut mapped = futures::stream::iter(["1", "a", "2", "b", "c"]).try_map(|s| s.parse::<u8>());
    let oks: Vec<u8> = (&mut mapped).collect().await;
    assert_eq!(oks, vec![1, 2]);
    assert_eq!(mapped.error_count(), 3);
}

/// A dropped error branch does not block the main stream; later errors are counted.
#[tokio::test]
async fn a_dropped_error_branch_is_fine() {
    let mut mapped =
        futures::stream::iter(0..10).try_map(|x| if x % 2 == 0 { Ok(x) } else { Err(x) });
    drop(mapped.errors());
    assert_eq!((&mut mapped).count().await, 5);
    assert_eq!(mapped.error_count(), 5);
}

/// A dead-letter sink beside the main sink, both fed by one rendezvous source; each emit
/// returns once its item went to one branch or the other.
#[tokio::test(start_paused = true)]
async fn dead_letters_beside_the_main_pipeline() {
    let source = Source::new();
    let mut checked = source.stream().try_map(|x: i32| {
        if x >= 0 {
            Ok(x)
        } else {
            Err(format!("{x} < 0"))
        }
    });
    let dead = checked.errors().sink_to_list();
    let ok = checked.map(|x| x * 10).sink_to_list();
    for x in [1, -2, 3, -4, 5] {
        within(source.emit(x)).await.unwrap();
    }
    assert_eq!(ok.snapshot(), vec![10, 30, 50]);
    source.close();
    assert_eq!(within(ok).await.unwrap(), vec![10, 30, 50]);
    assert_eq!(within(dead).await.unwrap(), vec!["-2 < 0", "-4 < 0"]);
}

/// The error branch ends when the operator is dropped, e.g. by a panic in its pipeline.
#[tokio::test]
async fn a_panic_ends_the_pipeline_and_its_error_branch() {
    let mut mapped = futures::stream::iter(0..5).try_map(|x: u32| {
        assert!(x < 3, "too big");
        if x == 1 { Err(x) } else { Ok(x) }
    });
    let errors = mapped.errors().sink_to_list();
    let err = mapped.sink_to_list().await.unwrap_err();
    assert!(err.to_string().contains("try_map"), "{err}");
    assert!(err.to_string().contains("too big"), "{err}");
    assert_eq!(within(errors).await.unwrap(), vec![1]);
}

#[test]
#[should_panic(expected = "try_map: `errors()` may be called only once")]
fn errors_twice_panics() {
    let mut mapped = futures::stream::iter([1]).try_map(Ok::<i32, ()>);
    let _first = mapped.errors();
    let _second = mapped.errors();
}

/// V107 (and V102), adapted: `s.map(1/x).sink(A); s.sink(B)`, emit 0 then 1. In streamz the
/// first emit raises and the graph survives; with `try_map` the error goes to the error branch
/// instead of the caller of `emit`, and both branches carry on.
#[tokio::test(start_paused = true)]
async fn v107_a_failing_function_leaves_the_graph_alive() {
    let s = Source::new();
    let mut inverse = s.stream().try_map(|x: i32| {
        1_i32
            .checked_div(x)
            .map(f64::from)
            .ok_or("division by zero")
    });
    let errors = inverse.errors().sink_to_list();
    let a = inverse.sink_to_list();
    let b = s.stream().sink_to_list();
    within(s.emit(0)).await.unwrap();
    assert!(a.is_empty());
    assert_eq!(b.snapshot(), vec![0]);
    within(s.emit(1)).await.unwrap();
    assert_eq!(a.snapshot(), vec![1.0]);
    assert_eq!(b.snapshot(), vec![0, 1]);
    s.close();
    assert_eq!(within(errors).await.unwrap(), vec!["division by zero"]);
}
