//! `filenames`: new paths matching a glob, each once, sorted within a poll (V141).

mod support;

use std::time::Duration;

use futures::{Stream, StreamExt};
use rivulet::sources::{SourceError, filenames};
use support::tempdir::{TempDir, append};

async fn next<S: Stream + Unpin>(s: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("no item within 10 s")
        .expect("the stream ended")
}

#[tokio::test]
async fn a_directory_lists_its_entries_then_new_ones() {
    let dir = TempDir::new("filenames-dir");
    append(&dir.join("b"), b"");
    append(&dir.join("a"), b"");
    let mut paths =
        filenames(dir.path().to_string_lossy()).poll_interval(Duration::from_millis(10));
    assert_eq!(next(&mut paths).await.unwrap(), dir.join("a"));
    assert_eq!(next(&mut paths).await.unwrap(), dir.join("b"));
    append(&dir.join("c"), b"");
    assert_eq!(next(&mut paths).await.unwrap(), dir.join("c"));
    // Each path once: nothing more comes while nothing new appears.
    let more = tokio::time::timeout(Duration::from_millis(100), paths.next()).await;
    assert!(more.is_err(), "unexpected {more:?}");
}

#[tokio::test]
async fn a_glob_picks_matching_paths_only() {
    let dir = TempDir::new("filenames-glob");
    append(&dir.join("x.csv"), b"");
    append(&dir.join("x.txt"), b"");
    let pattern = dir.join("*.csv");
    let mut paths = filenames(pattern.to_string_lossy()).poll_interval(Duration::from_millis(10));
    assert_eq!(next(&mut paths).await.unwrap(), dir.join("x.csv"));
    append(&dir.join("y.txt"), b"");
    append(&dir.join("y.csv"), b"");
    assert_eq!(next(&mut paths).await.unwrap(), dir.join("y.csv"));
}

#[tokio::test]
async fn an_invalid_pattern_is_the_only_item() {
    let mut paths = filenames("[unclosed");
    assert!(matches!(
        next(&mut paths).await,
        Err(SourceError::Pattern { .. })
    ));
    assert!(paths.next().await.is_none());
}
