//! `RemoteStream::unique` with a remote key function, on `Client::local(2)`: the first item of
//! each key passes, in order; failures pass as their `Err`. streamz-vectors V23, V24.
//! Real QUIC between threads: real time, no paused clock.

#![cfg(feature = "remote")]

mod support;

use rivulet::prelude::*;
use rivulet::{Client, TaskError};
use support::within;

#[rivulet::remote]
fn identity(x: i64) -> i64 {
    x
}

#[rivulet::remote]
fn parity(x: i64) -> i64 {
    x.rem_euclid(2)
}

#[rivulet::remote]
fn key_or_fail(x: i64) -> Result<i64, String> {
    if x == 13 {
        Err("unlucky".to_owned())
    } else {
        Ok(x % 3)
    }
}

#[rivulet::remote]
fn word_length(word: String) -> usize {
    word.len()
}

fn shape<T>(results: Vec<Result<T, TaskError>>) -> Vec<Result<T, String>> {
    results
        .into_iter()
        .map(|r| r.map_err(|e| e.message().to_owned()))
        .collect()
}

/// V23: unique() — 1, 2, 1 gives 1, 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v23_unique() {
    let client = Client::local(2).await.unwrap();
    let out = within(
        futures::stream::iter(vec![1_i64, 2, 1])
            .scatter(&client)
            .unique(identity)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out, vec![Ok(1), Ok(2)]);
}

/// V24 without `maxsize` (every key is remembered): key x % 2 over 1, 2, 4, 6, 3 gives 1, 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v24_unique_by_key() {
    let client = Client::local(2).await.unwrap();
    let out = within(
        futures::stream::iter(vec![1_i64, 2, 4, 6, 3])
            .scatter(&client)
            .buffered(4)
            .unique(parity)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out, vec![Ok(1), Ok(2)]);
    let words = ["a", "bb", "c", "dd", "eee"].map(String::from);
    let out = within(
        futures::stream::iter(words)
            .scatter(&client)
            .unique(word_length)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    let out: Vec<String> = out.into_iter().map(|w| w.unwrap()).collect();
    assert_eq!(out, vec!["a", "bb", "eee"]);
}

/// An item whose key function fails passes as that `Err` and remembers no key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_key_passes_as_its_error() {
    let client = Client::local(2).await.unwrap();
    let out = within(
        futures::stream::iter(vec![3_i64, 13, 4, 6, 5, 7])
            .scatter(&client)
            .unique(key_or_fail)
            .gather()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(
        shape(out),
        vec![Ok(3), Err("unlucky".to_owned()), Ok(4), Ok(5)]
    );
}
