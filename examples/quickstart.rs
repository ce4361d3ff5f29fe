//! The streamz Dask quickstart, in Rust.
//!
//! ```text
//! cargo run --release --example quickstart
//! cargo run --release --example quickstart -- --watch
//! ```
//!
//! `inc` sleeps for one second. Run sequentially on ten items it takes about ten seconds; spread
//! over eight task slots of two workers (`scatter → map → buffered(8) → gather`) it takes about two,
//! and the client's dashboard shows it happen (its address is printed). With `--watch` the
//! dashboard stays up after the run until Ctrl-C, to look at at leisure.

use std::time::{Duration, Instant};

use rivulet::prelude::*;

/// streamz's `inc`: slow on purpose, like real work.
#[rivulet::remote]
fn inc(x: i64) -> i64 {
    std::thread::sleep(Duration::from_secs(1));
    x + 1
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A worker process started from this binary becomes a worker here and never returns.
    rivulet::worker::run_if_worker();
    let watch = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--watch") => true,
        Some(other) => {
            return Err(format!("unknown argument {other:?}; usage: quickstart [--watch]").into());
        }
    };

    // Sequential, as in streamz: each emit waits until the sink has printed the result.
    let source = Source::new();
    let printed = source
        .stream()
        .map(|x| inc.call(x))
        .sink(|x| println!("{x}"));
    let start = Instant::now();
    for x in 0..10 {
        source.emit(x).await?;
    }
    source.close();
    printed.await?;
    let sequential = start.elapsed();
    println!("local, one at a time: {sequential:.2?}");

    // Parallel: two in-process workers with four task slots each, and a live dashboard (port 0
    // picks a free port; Dask's usual "127.0.0.1:8787" works too, if it is free).
    let client = rivulet::Client::builder()
        .workers(2)
        .slots(4)
        .dashboard("127.0.0.1:0")
        .build()
        .await?;
    if let Some(addr) = client.dashboard_addr() {
        if watch {
            println!("dashboard: http://{addr}/status (it stays up after the run until Ctrl-C)");
        } else {
            println!(
                "dashboard: http://{addr}/status (for the run only; `-- --watch` keeps it up until Ctrl-C)"
            );
        }
    }
    let source = Source::new();
    let printed = source
        .stream()
        .scatter(&client)
        .map(inc)
        .buffered(8)
        .gather()
        .sink(|result| match result {
            Ok(x) => println!("{x}"),
            Err(error) => eprintln!("failed: {error}"),
        });
    let start = Instant::now();
    for x in 0..10 {
        source.emit(x).await?;
    }
    source.close();
    printed.await?;
    let parallel = start.elapsed();
    println!("distributed over {} slots: {parallel:.2?}", client.slots());
    println!(
        "speed-up: {:.1}×",
        sequential.as_secs_f64() / parallel.as_secs_f64()
    );
    if watch {
        if let Some(addr) = client.dashboard_addr() {
            println!("the dashboard is still up at http://{addr}/status; Ctrl-C ends it");
        }
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}
