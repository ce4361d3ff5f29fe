//! `from_process`: the records of a child's output, its exit status at the end (V138).

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use rivulet::sources::{SourceError, from_process};
use tokio::process::Command;

fn sh(script: &str) -> Command {
    let mut command = Command::new("sh");
    command.args(["-c", script]);
    command
}

async fn all(stream: rivulet::sources::Process) -> Vec<Result<Bytes, SourceError>> {
    tokio::time::timeout(Duration::from_secs(30), stream.collect())
        .await
        .expect("the process source did not end")
}

#[tokio::test]
async fn lines_keep_their_delimiter_and_the_end_is_the_last_record() {
    let items = all(from_process(sh("for i in 0 1 2 3; do echo $i; done"))).await;
    let lines: Vec<Bytes> = items.into_iter().map(Result::unwrap).collect();
    assert_eq!(lines, vec!["0\n", "1\n", "2\n", "3\n"]);

    let items = all(from_process(sh("printf 0123"))).await;
    let lines: Vec<Bytes> = items.into_iter().map(Result::unwrap).collect();
    assert_eq!(lines, vec!["0123"]);
}

#[tokio::test]
async fn a_non_zero_exit_is_the_last_item() {
    let items = all(from_process(sh("echo partial; exit 3"))).await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_ref().unwrap(), "partial\n");
    match &items[1] {
        Err(SourceError::Exit { status }) => assert_eq!(status.code(), Some(3)),
        other => panic!("expected Exit, got {other:?}"),
    }
}

#[tokio::test]
async fn a_program_that_does_not_exist_is_an_io_error() {
    let items = all(from_process(Command::new(
        "/nonexistent/rivulet-test-program",
    )))
    .await;
    assert!(
        matches!(items[..], [Err(SourceError::Io { .. })]),
        "{items:?}"
    );
}

#[tokio::test]
async fn stderr_is_read_when_asked() {
    let items = all(from_process(sh("echo out; echo err >&2")).with_stderr(true)).await;
    let mut lines: Vec<Bytes> = items.into_iter().map(Result::unwrap).collect();
    lines.sort();
    assert_eq!(lines, vec!["err\n", "out\n"]);
}

#[tokio::test]
async fn an_overlong_line_is_a_typed_error_and_skipped() {
    let script = "head -c 100000 /dev/zero | tr '\\0' x; echo; echo ok";
    let items = all(from_process(sh(script)).max_record_size(1000)).await;
    assert!(matches!(
        items[0],
        Err(SourceError::RecordTooLong { max: 1000 })
    ));
    assert_eq!(items[1].as_ref().unwrap(), "ok\n");
    assert_eq!(items.len(), 2);
}

#[tokio::test]
async fn reads_no_faster_than_polled_and_dropping_kills_the_child() {
    // `yes` writes forever; taking three lines and dropping the stream must end it.
    let mut lines = from_process(Command::new("yes"));
    for _ in 0..3 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(line, "y\n");
    }
    drop(lines); // kill_on_drop: nothing waits here
}
