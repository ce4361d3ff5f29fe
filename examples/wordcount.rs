//! Word counts over a sliding window of a text file's words.
//!
//! ```text
//! cargo run --example wordcount [FILE] [WINDOW]
//! ```
//!
//! Reads FILE (README.md by default) line by line, splits it into words, and every 100 words
//! prints the five most frequent words among the last WINDOW (500 by default).

use std::collections::HashMap;

use rivulet::prelude::*;
use tokio::io::AsyncBufReadExt;
use tokio_stream::wrappers::LinesStream;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "README.md".to_owned());
    let window: usize = match args.next() {
        Some(n) => n.parse()?,
        None => 500,
    };
    let file = tokio::fs::File::open(&path).await?;
    let lines = LinesStream::new(tokio::io::BufReader::new(file).lines());

    let report = lines
        .take_while(|line| futures::future::ready(line.is_ok()))
        .filter_map(|line| futures::future::ready(line.ok()))
        .map(|line| words(&line))
        .flatten_iter()
        .sliding_window(window, true)
        .enumerate()
        .retain(|(i, _)| (i + 1) % 100 == 0)
        .map(|(i, recent)| (i + 1, top(&recent, 5)))
        .sink(|(seen, top)| {
            let shown: Vec<String> = top.iter().map(|(w, n)| format!("{w}×{n}")).collect();
            println!("after {seen:>6} words: {}", shown.join("  "));
        });
    report.await?;
    Ok(())
}

/// The lower-cased words of a line, without punctuation.
fn words(line: &str) -> Vec<String> {
    line.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| w.len() > 2)
        .map(str::to_lowercase)
        .collect()
}

/// The `n` most frequent words of a window, most frequent first (ties by word).
fn top(window: &[String], n: usize) -> Vec<(String, usize)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for word in window {
        *counts.entry(word).or_default() += 1;
    }
    let mut counts: Vec<(String, usize)> =
        counts.into_iter().map(|(w, c)| (w.to_owned(), c)).collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.truncate(n);
    counts
}
