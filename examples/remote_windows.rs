//! Per-batch sums on workers, printed as the batches finish.
//!
//! ```text
//! cargo run --example remote_windows
//! ```
//!
//! 64 readings are scattered over two workers with four task slots each (8 slots), grouped by
//! `partition(8)` into batches built as one value each on a worker, and summed there by a remote
//! function that takes longer on some batches than on others (as real work does).
//! `gather_unordered` brings each sum back as soon as it is done, with up to 8 batches in
//! flight, so the printout is in completion order, not batch order; a batch whose readings
//! include a failed one prints that reading's error instead of a sum.

use std::time::{Duration, Instant};

use rivulet::prelude::*;

/// One batch's sum, with where the batch starts so the printout can say which one it is.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct BatchSum {
    first: u64,
    len: usize,
    sum: u64,
}

/// A reading: fails on the value 45, to show what a batch with a failed item gives.
#[rivulet::remote]
fn reading(x: u64) -> Result<u64, String> {
    if x == 45 {
        Err(format!("sensor {x} is broken"))
    } else {
        Ok(x * x)
    }
}

/// Sums a batch; slow on some batches on purpose.
#[rivulet::remote]
fn batch_sum(batch: Vec<u64>) -> BatchSum {
    let first = batch.first().map_or(0, |x| x.isqrt());
    std::thread::sleep(Duration::from_millis(50 + 150 * (first % 3)));
    BatchSum {
        first,
        len: batch.len(),
        sum: batch.iter().sum(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A worker process started from this binary becomes a worker here and never returns.
    rivulet::worker::run_if_worker();

    let client = rivulet::Client::builder()
        .workers(2)
        .slots(4)
        .build()
        .await?;
    println!(
        "{} task slots on {} workers",
        client.slots(),
        client.workers().len()
    );
    let start = Instant::now();
    let sums = futures::stream::iter(0..64_u64)
        .scatter(&client)
        .map(reading)
        .partition(8)
        .map(batch_sum)
        .gather_unordered();
    futures::pin_mut!(sums);
    while let Some(result) = sums.next().await {
        let at = start.elapsed();
        match result {
            Ok(BatchSum { first, len, sum }) => println!(
                "{at:>8.1?}  batch {first:>2}..{:<2}  sum {sum}",
                first + len as u64 - 1
            ),
            Err(error) => println!("{at:>8.1?}  a batch failed: {error}"),
        }
    }
    client.shutdown().await;
    Ok(())
}
