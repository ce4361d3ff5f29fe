//! Joins of remote streams (`union`, `combine_latest`) on `Client::local(2)`: values, order,
//! and failed items (one passes a union as its own `Err`; a pair with one is that `Err`).
//! streamz-vectors V13, V40. Real QUIC between threads: real time, no paused clock.

#![cfg(feature = "remote")]

mod support;

use std::time::Duration;

use rivulet::prelude::*;
use rivulet::{Client, TaskError};
use support::within;

#[rivulet::remote]
fn checked(x: i64) -> Result<i64, String> {
    if x < 0 {
        Err(format!("bad {x}"))
    } else {
        Ok(x)
    }
}

#[rivulet::remote]
fn describe(pair: (i64, char)) -> String {
    format!("{}{}", pair.0, pair.1)
}

fn shape<T>(results: Vec<Result<T, TaskError>>) -> Vec<Result<T, String>> {
    results
        .into_iter()
        .map(|r| r.map_err(|e| e.message().to_owned()))
        .collect()
}

/// Waits (a bounded number of short sleeps) until `list` holds `n` items, and returns them.
async fn until_len<T: Clone>(list: &rivulet::ListSink<T>, n: usize) -> Vec<T> {
    for _ in 0..3000 {
        if list.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    list.snapshot()
}

/// V13: `a.union(b).union(c)`; emits a1, b2, a3, c4 come out in emit order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v13_union_of_three() {
    let client = Client::local(2).await.unwrap();
    let (a, b, c) = (Source::new(), Source::new(), Source::new());
    let list = a
        .stream()
        .scatter(&client)
        .union(b.stream().scatter(&client))
        .union(c.stream().scatter(&client))
        .gather()
        .sink_to_list();
    within(async {
        let emits = [(&a, 1_i64), (&b, 2), (&a, 3), (&c, 4)];
        for (n, (source, x)) in emits.into_iter().enumerate() {
            source.emit(x).await.unwrap();
            let got = until_len(&list, n + 1).await;
            let want: Vec<_> = (1..=n as i64 + 1).map(Ok).collect();
            assert_eq!(got, want);
        }
    })
    .await;
    a.close();
    b.close();
    c.close();
    assert_eq!(within(list).await.unwrap().len(), 4);
}

/// A failed item passes a union as its own `Err`; each side keeps its own order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn union_passes_failed_items_through() {
    let client = Client::local(2).await.unwrap();
    let left = futures::stream::iter(vec![1_i64, -2, 3])
        .scatter(&client)
        .map(checked);
    let right = futures::stream::iter(vec![10_i64, 20]).scatter(&client);
    let out = shape(within(left.union(right).gather().collect::<Vec<_>>()).await);
    assert_eq!(out.len(), 5);
    let from_left: Vec<_> = out
        .iter()
        .filter(|r| !matches!(r, Ok(10) | Ok(20)))
        .cloned()
        .collect();
    assert_eq!(from_left, vec![Ok(1), Err("bad -2".to_owned()), Ok(3)]);
    let from_right: Vec<_> = out
        .iter()
        .filter(|r| matches!(r, Ok(10) | Ok(20)))
        .cloned()
        .collect();
    assert_eq!(from_right, vec![Ok(10), Ok(20)]);
}

/// V40: a1, a2, b'a', a3, b'b' → (2,'a'), (3,'a'), (3,'b'); each pair is one value, consumed
/// by a remote function over the tuple.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v40_combine_latest() {
    let client = Client::local(2).await.unwrap();
    let (a, b) = (Source::new(), Source::new());
    let list = a
        .stream()
        .scatter(&client)
        .combine_latest(b.stream().scatter(&client))
        .gather()
        .sink_to_list();
    let (c, d) = (Source::new(), Source::new());
    let words = c
        .stream()
        .scatter(&client)
        .combine_latest(d.stream().scatter(&client))
        .map(describe)
        .gather()
        .sink_to_list();
    within(async {
        a.emit(1_i64).await.unwrap();
        a.emit(2).await.unwrap();
        b.emit('a').await.unwrap();
        a.emit(3).await.unwrap();
        b.emit('b').await.unwrap();
        c.emit(1_i64).await.unwrap();
        d.emit('x').await.unwrap();
        d.emit('y').await.unwrap();
        c.emit(2).await.unwrap();
    })
    .await;
    for source in [&a, &c] {
        source.close();
    }
    b.close();
    d.close();
    let pairs = within(list).await.unwrap();
    assert_eq!(pairs, vec![Ok((2, 'a')), Ok((3, 'a')), Ok((3, 'b'))]);
    let words = within(words).await.unwrap();
    let words: Vec<String> = words.into_iter().map(|w| w.unwrap()).collect();
    assert_eq!(words, vec!["1x", "1y", "2y"]);
}

/// A pair holding a failed item is that item's `Err` (the left one's when both failed); the
/// pairs after it, without it, are fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn combine_latest_with_failed_items() {
    let client = Client::local(2).await.unwrap();
    let (a, b) = (Source::new(), Source::new());
    let list = a
        .stream()
        .scatter(&client)
        .map(checked)
        .combine_latest(b.stream().scatter(&client).map(checked))
        .gather()
        .sink_to_list();
    within(async {
        a.emit(-1_i64).await.unwrap();
        b.emit(-10_i64).await.unwrap(); // (-1, -10): both failed, the left one's error
        a.emit(2).await.unwrap(); // (2, -10)
        b.emit(20).await.unwrap(); // (2, 20)
    })
    .await;
    a.close();
    b.close();
    let out = shape(within(list).await.unwrap());
    assert_eq!(
        out,
        vec![
            Err("bad -1".to_owned()),
            Err("bad -10".to_owned()),
            Ok((2, 20))
        ]
    );
}
