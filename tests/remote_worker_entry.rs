//! A program that starts child-process workers but forgets `rivulet::worker::run_if_worker()`:
//! each child exits as soon as it reaches `build()`, and the parent's error says why. Real child
//! processes of this test binary, real time.
#![cfg(feature = "remote")]

mod support;

use rivulet::Client;
use rivulet::remote::ClusterError;
use rivulet::worker::SpawnError;
use support::within;

/// The child runs this very test (`--exact` below), without `--nocapture`, so the harness
/// captures its printing: the message must reach the parent all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_builds_a_client_without_run_if_worker_exits_and_says_so() {
    // Deliberately no `rivulet::worker::run_if_worker()` before this.
    let built = within(
        Client::builder()
            .workers(1)
            .slots(1)
            .processes(true)
            .worker_args([
                "--exact",
                "a_child_that_builds_a_client_without_run_if_worker_exits_and_says_so",
            ])
            .build(),
    )
    .await;
    let err = match built {
        Ok(_) => panic!("a child that never called run_if_worker became a worker"),
        Err(err) => err,
    };
    let ClusterError::Spawn(SpawnError::Exited { status, stderr }) = &err else {
        panic!("not the child's exit: {err}");
    };
    assert_eq!(status.and_then(|s| s.code()), Some(3), "{err}");
    assert!(
        stderr
            .iter()
            .any(|line| line.contains("`rivulet::worker::run_if_worker()`")),
        "stderr: {stderr:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("exited before it was ready") && message.contains("run_if_worker"),
        "{message}"
    );
}
