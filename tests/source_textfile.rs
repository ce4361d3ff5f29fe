//! `from_textfile`: following a growing file, rotation, bad records, and checkpoints.

mod support;

use std::time::Duration;

use futures::{Stream, StreamExt};
use rivulet::sources::{SourceError, from_textfile};
use support::tempdir::{TempDir, append};

const FAST: Duration = Duration::from_millis(10);

async fn next<S: Stream + Unpin>(s: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("no item within 10 s")
        .expect("the stream ended")
}

async fn nothing_yet<S: Stream + Unpin>(s: &mut S)
where
    S::Item: std::fmt::Debug,
{
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(100), s.next()).await {
        panic!("unexpected item {item:?}");
    }
}

fn assert_send_static<T: Send + 'static>(_: &T) {}

#[tokio::test]
async fn yields_complete_records_with_their_delimiter_then_follows() {
    let dir = TempDir::new("textfile-follow");
    let path = dir.join("log");
    append(&path, b"one\ntwo\nthr");
    let mut lines = from_textfile(&path).poll_interval(FAST);
    assert_send_static(&lines);
    assert_eq!(next(&mut lines).await.unwrap(), "one\n");
    assert_eq!(next(&mut lines).await.unwrap(), "two\n");
    nothing_yet(&mut lines).await; // "thr" is not complete
    append(&path, b"ee\nfour\n");
    assert_eq!(next(&mut lines).await.unwrap(), "three\n");
    assert_eq!(next(&mut lines).await.unwrap(), "four\n");
    nothing_yet(&mut lines).await; // it never ends by itself
}

/// V139: JSON lines, then more appended.
#[tokio::test]
async fn json_lines_as_they_are_appended() {
    let dir = TempDir::new("textfile-json");
    let path = dir.join("data.jsonl");
    append(&path, b"{\"x\": 1}\n{\"x\": 2}\n{\"x\": 3}\n");
    let xs = from_textfile(&path).poll_interval(FAST).map(|line| {
        serde_json::from_str::<serde_json::Value>(&line.unwrap()).unwrap()["x"].clone()
    });
    let mut xs = Box::pin(xs);
    for x in 1..=3 {
        assert_eq!(next(&mut xs).await, x);
    }
    append(&path, b"{\"x\": 4}\n{\"x\": 5}\n");
    for x in 4..=5 {
        assert_eq!(next(&mut xs).await, x);
    }
}

/// V140: from_end skips what the file held.
#[tokio::test]
async fn from_end_yields_only_new_records() {
    let dir = TempDir::new("textfile-end");
    let path = dir.join("log");
    append(&path, b"data1\n");
    let mut lines = from_textfile(&path).from_end(true).poll_interval(FAST);
    nothing_yet(&mut lines).await; // opens the file at its end
    append(&path, b"data2\n");
    assert_eq!(next(&mut lines).await.unwrap(), "data2\n");
}

#[tokio::test]
async fn a_custom_delimiter_is_kept() {
    let dir = TempDir::new("textfile-delim");
    let path = dir.join("log");
    append(&path, b"a\r\nb\nc\r\n");
    let mut lines = from_textfile(&path).delimiter(b"\r\n").poll_interval(FAST);
    assert_eq!(next(&mut lines).await.unwrap(), "a\r\n");
    assert_eq!(next(&mut lines).await.unwrap(), "b\nc\r\n");
}

#[tokio::test]
async fn a_missing_file_is_waited_for() {
    let dir = TempDir::new("textfile-missing");
    let path = dir.join("later");
    let mut lines = from_textfile(&path).poll_interval(FAST);
    nothing_yet(&mut lines).await;
    append(&path, b"here\n");
    assert_eq!(next(&mut lines).await.unwrap(), "here\n");
}

#[tokio::test]
async fn survives_truncation() {
    let dir = TempDir::new("textfile-truncate");
    let path = dir.join("log");
    append(&path, b"first line\nsecond line\n");
    let mut lines = from_textfile(&path).poll_interval(FAST);
    assert_eq!(next(&mut lines).await.unwrap(), "first line\n");
    assert_eq!(next(&mut lines).await.unwrap(), "second line\n");
    nothing_yet(&mut lines).await;
    std::fs::write(&path, b"new\n").unwrap(); // truncate and write less than before
    assert_eq!(next(&mut lines).await.unwrap(), "new\n");
}

#[tokio::test]
async fn survives_rotation_by_rename() {
    let dir = TempDir::new("textfile-rename");
    let path = dir.join("log");
    append(&path, b"old 1\n");
    let mut lines = from_textfile(&path).poll_interval(FAST);
    assert_eq!(next(&mut lines).await.unwrap(), "old 1\n");
    nothing_yet(&mut lines).await;
    append(&path, b"old 2\n");
    std::fs::rename(&path, dir.join("log.1")).unwrap();
    append(&path, b"new 1\nnew 2\n");
    assert_eq!(next(&mut lines).await.unwrap(), "old 2\n");
    assert_eq!(next(&mut lines).await.unwrap(), "new 1\n");
    assert_eq!(next(&mut lines).await.unwrap(), "new 2\n");
}

#[tokio::test]
async fn a_record_that_is_not_utf8_is_a_typed_error_and_skipped() {
    let dir = TempDir::new("textfile-utf8");
    let path = dir.join("log");
    append(&path, b"ok\n\xff\xfe bad\nfine\n");
    let mut lines = from_textfile(&path).poll_interval(FAST);
    assert_eq!(next(&mut lines).await.unwrap(), "ok\n");
    match next(&mut lines).await {
        Err(SourceError::NotUtf8 {
            position, bytes, ..
        }) => {
            assert_eq!(position, 3);
            assert_eq!(&bytes[..], b"\xff\xfe bad\n");
        }
        other => panic!("expected NotUtf8, got {other:?}"),
    }
    assert_eq!(next(&mut lines).await.unwrap(), "fine\n");
}

#[tokio::test]
async fn an_overlong_record_is_a_typed_error_and_memory_stays_bounded() {
    let dir = TempDir::new("textfile-long");
    let path = dir.join("log");
    append(&path, b"short\n");
    // 1 MiB without a delimiter, then the end of that record and a normal one.
    append(&path, &vec![b'x'; 1 << 20]);
    append(&path, b"end of the long one\nafter\n");
    let mut lines = from_textfile(&path)
        .max_record_size(1000)
        .poll_interval(FAST);
    assert_eq!(next(&mut lines).await.unwrap(), "short\n");
    assert!(matches!(
        next(&mut lines).await,
        Err(SourceError::RecordTooLong { max: 1000 })
    ));
    assert_eq!(next(&mut lines).await.unwrap(), "after\n");
}

#[tokio::test]
async fn a_directory_is_an_io_error_then_the_end() {
    let dir = TempDir::new("textfile-dir");
    let mut lines = from_textfile(dir.path()).poll_interval(FAST);
    let item = next(&mut lines).await;
    assert!(matches!(item, Err(SourceError::Io { .. })), "{item:?}");
    let end = tokio::time::timeout(Duration::from_secs(10), lines.next()).await;
    assert!(matches!(end, Ok(None)));
}

#[tokio::test]
async fn checkpoint_resumes_after_the_last_done_record() {
    let dir = TempDir::new("textfile-checkpoint");
    let (path, checkpoint) = (dir.join("log"), dir.join("log.checkpoint"));
    append(&path, b"a\nb\n\xff\nc\nd\n");
    let never_done;
    {
        let mut lines = from_textfile(&path)
            .poll_interval(FAST)
            .checkpoint(&checkpoint);
        assert_send_static(&lines);
        let a = next(&mut lines).await.unwrap();
        let b = next(&mut lines).await.unwrap();
        assert_eq!((&**a, &**b), ("a\n", "b\n"));
        assert!(matches!(
            next(&mut lines).await,
            Err(SourceError::NotUtf8 { .. })
        ));
        let c = next(&mut lines).await.unwrap();
        drop(b);
        drop(c);
        assert!(
            !checkpoint.exists(),
            "\"a\" is not done, so nothing is committed"
        );
        drop(a); // now a, b, the bad record and c are done
        let d = next(&mut lines).await.unwrap();
        assert_eq!(&*d, "d\n");
        nothing_yet(&mut lines).await; // polled once more: the checkpoint is written
        never_done = d; // d is never done: the crash below must replay it
    }
    let saved = std::fs::read_to_string(&checkpoint).unwrap();
    assert!(
        saved.ends_with(" 8\n"),
        "checkpoint after byte 8 (after c): {saved:?}"
    );

    append(&path, b"e\n");
    let mut again = from_textfile(&path)
        .poll_interval(FAST)
        .checkpoint(&checkpoint);
    assert_eq!(&*next(&mut again).await.unwrap(), "d\n");
    assert_eq!(&*next(&mut again).await.unwrap(), "e\n");
    drop(never_done);
}

#[tokio::test]
async fn a_checkpoint_of_a_rotated_file_starts_the_new_file_from_its_beginning() {
    let dir = TempDir::new("textfile-checkpoint-rotated");
    let (path, checkpoint) = (dir.join("log"), dir.join("log.checkpoint"));
    append(&path, b"old\n");
    {
        let mut lines = from_textfile(&path)
            .poll_interval(FAST)
            .checkpoint(&checkpoint);
        drop(next(&mut lines).await.unwrap());
        nothing_yet(&mut lines).await;
    }
    std::fs::rename(&path, dir.join("log.1")).unwrap();
    append(&path, b"new\n");
    let mut again = from_textfile(&path)
        .poll_interval(FAST)
        .checkpoint(&checkpoint);
    assert_eq!(&*next(&mut again).await.unwrap(), "new\n");
}

#[test]
#[should_panic(expected = "from_textfile: `delimiter` must not be empty")]
fn an_empty_delimiter_panics() {
    let _ = from_textfile("x").delimiter(b"");
}

#[test]
#[should_panic(expected = "from_textfile: `poll_interval` must be at least 1ns")]
fn a_zero_poll_interval_panics() {
    let _ = from_textfile("x").poll_interval(Duration::ZERO);
}
