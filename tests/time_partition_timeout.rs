//! `partition_timeout` on tokio's paused clock (V91, V92).

use std::time::Duration;

use rivulet::prelude::*;
use tokio::time::{Instant, sleep};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// V91: a partial batch comes out when its timeout passes, 10 ms after its first item.
#[tokio::test(start_paused = true)]
async fn v91_partition_timeout() {
    let start = Instant::now();
    let source = Source::new();
    let list = source
        .stream()
        .partition_timeout(10, ms(10))
        .map(move |batch: Vec<i32>| (batch, start.elapsed()))
        .sink_to_list();
    for x in 0..5 {
        source.emit(x).await.unwrap();
    }
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "a partial batch takes items at once"
    );
    sleep(ms(100)).await;
    assert_eq!(list.snapshot(), vec![(vec![0, 1, 2, 3, 4], ms(10))]);
}

/// V92: a full batch cancels its timeout; the next batch's timeout starts at its first item.
#[tokio::test(start_paused = true)]
async fn v92_partition_timeout_cancel() {
    let start = Instant::now();
    let source = Source::new();
    let list = source
        .stream()
        .partition_timeout(3, ms(100))
        .map(move |batch: Vec<i32>| (batch, start.elapsed()))
        .sink_to_list();
    for x in 0..3 {
        source.emit(x).await.unwrap();
    }
    sleep(ms(90)).await;
    source.emit(3).await.unwrap();
    sleep(ms(20)).await;
    assert_eq!(list.snapshot(), vec![(vec![0, 1, 2], ms(0))]);
    sleep(ms(90)).await;
    assert_eq!(
        list.snapshot(),
        vec![(vec![0, 1, 2], ms(0)), (vec![3], ms(190))]
    );
}

#[tokio::test(start_paused = true)]
async fn each_partial_batch_times_out_from_its_own_first_item() {
    let start = Instant::now();
    let source = Source::new();
    let list = source
        .stream()
        .partition_timeout(3, ms(10))
        .map(move |batch: Vec<i32>| (batch, start.elapsed()))
        .sink_to_list();
    for (x, gap) in [(0, 5), (1, 10), (2, 3), (3, 4), (4, 1)] {
        source.emit(x).await.unwrap();
        sleep(ms(gap)).await;
    }
    // In at 0, 5, 15, 18 and 22 ms.
    source.close();
    assert_eq!(
        list.await.unwrap(),
        vec![(vec![0, 1], ms(10)), (vec![2, 3, 4], ms(22))]
    );
}

#[tokio::test(start_paused = true)]
async fn partial_batch_at_the_end() {
    let out: Vec<Vec<i32>> = futures::stream::iter(0..5)
        .partition_timeout(2, ms(10))
        .collect()
        .await;
    assert_eq!(out, vec![vec![0, 1], vec![2, 3], vec![4]]);
    let none: Vec<Vec<i32>> = futures::stream::iter(0..4)
        .partition_timeout(2, ms(10))
        .collect()
        .await;
    assert_eq!(
        none,
        vec![vec![0, 1], vec![2, 3]],
        "no empty batch at the end"
    );
}

#[test]
#[should_panic(expected = "partition_timeout: `n` must be at least 1")]
fn zero_size_is_refused() {
    let _ = futures::stream::empty::<i32>().partition_timeout(0, ms(1));
}

#[test]
#[should_panic(expected = "partition_timeout: `dur` must be at least 1ns")]
fn zero_timeout_is_refused() {
    let _ = futures::stream::empty::<i32>().partition_timeout(2, Duration::ZERO);
}
