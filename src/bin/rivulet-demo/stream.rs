//! `rivulet-demo stream`: items through the workers behind a DNS name, checked on the way out.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt as _;
use rivulet::StreamzExt as _;

use super::{Access, crunch, crunch_value};

#[derive(Debug, clap::Args)]
pub(crate) struct StreamArgs {
    /// The workers' name and port, e.g. rivulet-workers.default.svc.cluster.local:7878.
    #[arg(long, env = "RIVULET_WORKERS")]
    name: String,
    #[command(flatten)]
    access: Access,
    /// How many items to stream.
    #[arg(long, default_value_t = 10_000)]
    items: u64,
    /// Items emitted per second (the source's pace).
    #[arg(long, default_value_t = 400)]
    rate: u64,
    /// Items in flight at once (`buffered(n)`).
    #[arg(long, default_value_t = 64)]
    buffer: usize,
    /// How often the name is resolved again, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    interval_ms: u64,
    /// Print a progress line every this many items.
    #[arg(long, default_value_t = 500)]
    progress_every: u64,
    /// Give up (exit 1) after this many seconds.
    #[arg(long, default_value_t = 300)]
    deadline_s: u64,
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

pub(crate) async fn run(args: StreamArgs) -> Result<(), String> {
    let mut config = args.access.config()?;
    config.discovery_interval = Duration::from_millis(args.interval_ms.max(1));
    let client = rivulet::Client::discover(&args.name, config)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "discovered {} workers behind {}",
        client.workers().len(),
        args.name
    );

    // Membership as the client sees it: one line per change of a worker's status.
    let watched = client.clone();
    let watcher = tokio::spawn(async move {
        let mut known: HashMap<usize, &'static str> = HashMap::new();
        let mut events_seen = HashSet::new();
        loop {
            let snapshot = watched.metrics().snapshot();
            for w in snapshot.workers {
                if known.insert(w.index, w.status) != Some(w.status) {
                    println!("member {} {} {} {}", unix_ms(), w.index, w.addr, w.status);
                }
            }
            // Membership changes, with the time they happened (not when they were seen).
            let now = unix_ms() as f64;
            for event in snapshot.membership.events.iter().rev() {
                let key = (event.at_ms.to_bits(), event.addr.clone(), event.change);
                if events_seen.insert(key) {
                    let at = now - (snapshot.now_ms - event.at_ms);
                    println!(
                        "membership {at:.0} {:?} {} {}",
                        event.change, event.addr, event.detail
                    );
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });

    let started = Instant::now();
    let tokio_start = tokio::time::Instant::now();
    let rate = args.rate.max(1);
    let paced = futures::stream::iter(0..args.items).then(move |i| async move {
        let due = tokio_start + Duration::from_micros(i * 1_000_000 / rate);
        tokio::time::sleep_until(due).await;
        i
    });
    let mut out = paced
        .scatter(&client)
        .map(crunch)
        .buffered(args.buffer.max(1))
        .gather();
    let (mut count, mut wrong, mut errors) = (0u64, 0u64, 0u64);
    let deadline = tokio_start + Duration::from_secs(args.deadline_s);
    loop {
        let next = tokio::time::timeout_at(deadline, out.next()).await;
        let Ok(next) = next else {
            println!("deadline passed after {count} items");
            break;
        };
        let Some(result) = next else { break };
        match result {
            Ok(value) if value == crunch_value(count) => {}
            Ok(value) => {
                wrong += 1;
                if wrong <= 10 {
                    println!("wrong item {count}: {value}");
                }
            }
            Err(error) => {
                errors += 1;
                if errors <= 10 {
                    println!("failed item {count}: {error}");
                }
            }
        }
        count += 1;
        if count % args.progress_every.max(1) == 0 {
            println!("progress {} {count}", unix_ms());
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let ideal = args.items as f64 / rate as f64;
    tokio::time::sleep(Duration::from_millis(50)).await;
    watcher.abort();
    for w in client.metrics().snapshot().workers {
        println!(
            "worker {} {} {} finished={}",
            w.index, w.addr, w.status, w.finished
        );
    }
    let ok = count == args.items && wrong == 0 && errors == 0;
    println!(
        "done items={count} ok={ok} seconds={seconds:.2} ideal={ideal:.2} wrong={wrong} errors={errors}"
    );
    client.shutdown().await;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{count} of {} items came out, {wrong} wrong, {errors} failed",
            args.items
        ))
    }
}
