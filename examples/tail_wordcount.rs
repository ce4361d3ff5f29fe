//! A growing log file → words → one-second windows → counts, printed as it goes.
//!
//! `cargo run --example tail_wordcount -- PATH` follows PATH (like `tail -F`) until Ctrl-C.
//! Without PATH it writes a demo log of its own in the temporary directory for a few seconds,
//! follows it, and exits.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use rivulet::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (path, demo) = match std::env::args_os().nth(1) {
        Some(path) => (std::path::PathBuf::from(path), false),
        None => {
            let path =
                std::env::temp_dir().join(format!("rivulet-tail-{}.log", std::process::id()));
            std::fs::write(&path, "")?;
            (path, true)
        }
    };
    println!("following {}", path.display());

    let counts = rivulet::sources::from_textfile(&path)
        .poll_interval(Duration::from_millis(50))
        .filter_map(|line| async move {
            match line {
                Ok(line) => Some(line),
                Err(e) => {
                    eprintln!("skipped: {e}");
                    None
                }
            }
        })
        .map(|line| {
            line.split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .flatten_iter()
        .timed_window(Duration::from_secs(1))
        .map(|words| {
            let mut counts: HashMap<String, usize> = HashMap::new();
            for word in words {
                *counts.entry(word).or_default() += 1;
            }
            let mut counts: Vec<(String, usize)> = counts.into_iter().collect();
            counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            counts
        });

    let printer = counts.sink(|counts| {
        let top: Vec<String> = counts
            .iter()
            .take(5)
            .map(|(w, n)| format!("{w}={n}"))
            .collect();
        println!(
            "last second: {}",
            if top.is_empty() {
                "-".to_owned()
            } else {
                top.join(" ")
            }
        );
    });

    if demo {
        let lines = ["the quick brown fox", "jumps over the lazy dog", "the end"];
        let mut log = std::fs::OpenOptions::new().append(true).open(&path)?;
        for i in 0..30 {
            writeln!(log, "{}", lines[i % lines.len()])?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        printer.abort();
        let _ = printer.await;
        std::fs::remove_file(&path)?;
    } else {
        tokio::select! {
            ended = printer => ended?,
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    Ok(())
}
