//! `sink_to_textfile`: appends, flushes when idle and at the end, reports write errors (V142).

mod support;

use std::time::Duration;

use rivulet::prelude::*;
use rivulet::sinks::TextFileSink;
use support::tempdir::{TempDir, append};
use support::within;

#[tokio::test]
async fn items_are_appended_one_per_line() {
    let dir = TempDir::new("sink-textfile");
    let path = dir.join("out.txt");
    append(&path, b"before\n");
    let source = Source::new();
    let done = source.stream().sink_to_textfile(&path);
    within(source.emit("a")).await.unwrap();
    within(source.emit("b")).await.unwrap();
    source.close();
    within(done).await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "before\na\nb\n");
}

#[tokio::test]
async fn what_was_written_reaches_the_file_while_the_pipeline_idles() {
    let dir = TempDir::new("sink-textfile-idle");
    let path = dir.join("out.txt");
    let source = Source::new();
    let done = source.stream().map(|x: i32| x * 10).sink_to_textfile(&path);
    within(source.emit(1)).await.unwrap();
    within(source.emit(2)).await.unwrap();
    // emit returned, so the sink has come back for the next item, after flushing.
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&path).unwrap_or_default();
        if text == "10\n20\n" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(text, "10\n20\n");
    source.close();
    within(done).await.unwrap();
}

#[tokio::test]
async fn end_and_fsync_options() {
    let dir = TempDir::new("sink-textfile-options");
    let path = dir.join("out.txt");
    let items = futures::stream::iter(["x", "y"]);
    within(TextFileSink::new(&path).end(";").fsync(true).spawn(items))
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "x;y;");
}

#[tokio::test]
async fn a_file_that_cannot_be_opened_ends_the_pipeline_with_an_io_error() {
    let dir = TempDir::new("sink-textfile-error");
    // A directory cannot be opened for appending.
    let err = within(futures::stream::iter([1]).sink_to_textfile(dir.path()))
        .await
        .unwrap_err();
    assert!(matches!(err, rivulet::Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("opening"), "{err}");
}

#[tokio::test]
async fn a_panic_upstream_still_ends_the_handle_with_its_message() {
    let dir = TempDir::new("sink-textfile-panic");
    let path = dir.join("out.txt");
    let err = within(
        futures::stream::iter([1, 2])
            .map(|x: i32| {
                assert!(x < 2, "too big: {x}");
                x
            })
            .sink_to_textfile(&path),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("too big: 2"), "{err}");
}
