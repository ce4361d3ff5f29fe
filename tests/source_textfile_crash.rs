//! At-least-once across real crashes: a child process follows a file with a checkpoint through a
//! pipeline, and aborts mid-stream (no destructor runs, so no last checkpoint write); restarted,
//! it resumes from the last commit. Every line is processed at least once, and only lines after
//! the last commit are processed twice.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rivulet::prelude::*;
use support::tempdir::{TempDir, append};

const CHILD: &str = "RIVULET_CRASH_CHILD_DIR";
const CRASH_AFTER: &str = "RIVULET_CRASH_AFTER";

/// The pipeline, run in a child process: lines → buffer(3) → a sink that records each line it
/// processed, then drops it (done). Aborts after `CRASH_AFTER` lines, or exits at `end`.
#[test]
fn child_pipeline() {
    let Ok(dir) = std::env::var(CHILD) else {
        return; // run as a test of its own: nothing to do
    };
    let crash_after: usize = std::env::var(CRASH_AFTER)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    let dir = Path::new(&dir);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let lines = rivulet::sources::from_textfile(dir.join("input.log"))
            .poll_interval(Duration::from_millis(10))
            .checkpoint(dir.join("input.checkpoint"));
        let mut processed = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("processed"))
            .unwrap();
        let mut count = 0;
        let mut pipeline = Box::pin(lines.map(Result::unwrap).buffer(3));
        // Bounded: the parent writes 100 lines and `end`.
        for _ in 0..10_000 {
            let line = tokio::time::timeout(Duration::from_secs(20), pipeline.next())
                .await
                .expect("no line within 20 s")
                .expect("the file source never ends");
            if *line == "end\n" {
                std::process::exit(0);
            }
            processed.write_all(line.as_bytes()).unwrap();
            processed.sync_data().unwrap();
            drop(line); // done
            count += 1;
            if count == crash_after {
                std::process::abort(); // a crash: no destructor, no last checkpoint write
            }
        }
    });
}

fn run_child(dir: &Path, crash_after: Option<usize>) -> std::process::ExitStatus {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "child_pipeline",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, dir);
    if let Some(n) = crash_after {
        command.env(CRASH_AFTER, n.to_string());
    }
    command.status().unwrap()
}

#[test]
fn every_line_is_processed_at_least_once_across_crashes() {
    let dir = TempDir::new("textfile-crash");
    let mut input = String::new();
    for i in 0..100 {
        input.push_str(&format!("line {i}\n"));
    }
    input.push_str("end\n");
    append(&dir.join("input.log"), input.as_bytes());

    assert!(
        !run_child(dir.path(), Some(30)).success(),
        "the first run crashes"
    );
    assert!(
        !run_child(dir.path(), Some(30)).success(),
        "so does the second"
    );
    assert!(
        run_child(dir.path(), None).success(),
        "the third reaches the end"
    );

    let processed = std::fs::read_to_string(dir.join("processed")).unwrap();
    let lines: Vec<&str> = processed.lines().collect();
    for i in 0..100 {
        let line = format!("line {i}");
        assert!(lines.contains(&line.as_str()), "{line} was never processed");
    }
    // Each crash replays at most what was not yet committed: the few lines in flight.
    assert!(lines.len() >= 100);
    assert!(
        lines.len() < 100 + 2 * 10,
        "{} lines processed: a crash replayed more than was in flight",
        lines.len()
    );
    // Processed in order within each run: the replay restarts earlier, never skips ahead.
    let numbers: Vec<usize> = lines
        .iter()
        .map(|l| l.trim_start_matches("line ").parse().unwrap())
        .collect();
    let mut highest = 0;
    for n in numbers {
        assert!(
            n <= highest + 1,
            "line {n} came before line {}",
            highest + 1
        );
        highest = highest.max(n);
    }
}
