//! The worker's command line (`rivulet::worker::Args`, `main_with`) in the real binary: bad
//! flags, environment variables, `/healthz`, and a SIGTERM that drains a running task.

#![cfg(feature = "remote")]

mod support;

use std::time::{Duration, Instant};

use support::node::{Credentials, Proc, http_get, listening, metrics_at};

const START: Duration = Duration::from_secs(30);

/// Runs the demo worker with `args` and waits for it to exit: its code and standard error.
fn run_to_exit(args: &[&str]) -> (Option<i32>, Vec<String>) {
    let mut all = vec!["worker".to_owned()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    let mut worker = Proc::demo("worker", &all, &[]);
    let status = worker
        .wait_exit(START)
        .unwrap_or_else(|| panic!("the worker did not exit:\n{}", worker.transcript()));
    (status.code(), worker.stderr())
}

#[test]
fn bad_flags_exit_with_code_2_and_say_what_is_wrong() {
    let creds = Credentials::new("cli-bad");
    let (cert, key, secret) = (
        creds.cert.display().to_string(),
        creds.key.display().to_string(),
        creds.secret.display().to_string(),
    );
    let ok = ["--cert", &cert, "--key", &key, "--secret-file", &secret];

    let (code, stderr) = run_to_exit(&[&ok[..], &["--listen", "nope"]].concat());
    assert_eq!(code, Some(2));
    assert!(
        stderr[0].contains("invalid value 'nope' for '--listen <ADDR>'"),
        "{stderr:?}"
    );

    let (code, stderr) = run_to_exit(&[&ok[..], &["--slots", "0"]].concat());
    assert_eq!(code, Some(2), "{stderr:?}");

    let (code, stderr) = run_to_exit(&[&ok[..], &["--memory-limit", "4 gigs"]].concat());
    assert_eq!(code, Some(2), "{stderr:?}");
    assert!(
        stderr.join("\n").contains("unknown unit `gigs`"),
        "{stderr:?}"
    );

    let (code, stderr) = run_to_exit(&["--cert", &cert, "--key", &key]);
    assert_eq!(code, Some(2));
    assert!(stderr.join("\n").contains("--secret-file"), "{stderr:?}");

    // A missing file: one line that names it.
    let missing = creds.dir.0.join("no-such-cert.pem");
    let missing = missing.display().to_string();
    let (code, stderr) =
        run_to_exit(&["--cert", &missing, "--key", &key, "--secret-file", &secret]);
    assert_eq!(code, Some(2));
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(stderr[0].contains(&missing), "{stderr:?}");
    assert!(stderr[0].starts_with("rivulet worker: "), "{stderr:?}");

    let absent_secret = creds.dir.0.join("no-such-secret").display().to_string();
    let (code, stderr) = run_to_exit(&[
        "--cert",
        &cert,
        "--key",
        &key,
        "--secret-file",
        &absent_secret,
    ]);
    assert_eq!(code, Some(2));
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(stderr[0].contains(&absent_secret), "{stderr:?}");

    // An address it cannot listen on (taken by this test): one line naming it.
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let (code, stderr) = run_to_exit(&[&ok[..], &["--listen", &taken]].concat());
    assert_eq!(code, Some(2));
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(stderr[0].contains(&taken), "{stderr:?}");

    // A bad metrics address too.
    let (code, stderr) = run_to_exit(&[&ok[..], &["--metrics", "127.0.0.1:99999"]].concat());
    assert_eq!(code, Some(2));
    assert!(stderr[0].contains("--metrics"), "{stderr:?}");
}

#[test]
fn help_says_how_to_start() {
    let mut help = Proc::demo("help", &["worker".into(), "--help".into()], &[]);
    assert_eq!(help.wait_exit(START).and_then(|s| s.code()), Some(0));
    let text = help.transcript();
    for needle in [
        "--listen",
        "RIVULET_LISTEN",
        "--secret-file",
        "--drain-timeout",
        "/healthz",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}

#[test]
fn environment_variables_set_every_flag_and_healthz_says_ready() {
    let creds = Credentials::new("cli-env");
    let env = [
        ("RIVULET_LISTEN", "127.0.0.1:0".to_owned()),
        ("RIVULET_CERT", creds.cert.display().to_string()),
        ("RIVULET_KEY", creds.key.display().to_string()),
        ("RIVULET_SECRET_FILE", creds.secret.display().to_string()),
        ("RIVULET_SLOTS", "3".to_owned()),
        ("RIVULET_METRICS", "127.0.0.1:0".to_owned()),
        ("RIVULET_DRAIN_TIMEOUT", "2s".to_owned()),
        ("RIVULET_MEMORY_LIMIT", "2Gi".to_owned()),
        ("RIVULET_MAX_VALUE", "64MiB".to_owned()),
        ("RIVULET_MAX_BYTES_HELD", "1GB".to_owned()),
        ("RIVULET_MAX_TASKS", "500".to_owned()),
    ];
    let mut worker = Proc::demo("worker", &["worker".into()], &env);
    let addr = worker.wait_for(START, |line| {
        line.contains("with 3 slots")
            .then(|| listening(line))
            .flatten()
    });
    let addr = addr.unwrap_or_else(|| panic!("no listening line:\n{}", worker.transcript()));
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    // The limits it serves with are the variables' (2Gi = 2147483648, 64MiB = 67108864).
    let limits = worker
        .wait_for(START, |line| {
            line.starts_with("limits: ").then(|| line.to_owned())
        })
        .unwrap_or_else(|| panic!("no limits line:\n{}", worker.transcript()));
    assert_eq!(
        limits,
        "limits: values up to 67108864 bytes; each client up to 1000000000 bytes held and 500 \
         tasks; memory limit 2147483648 bytes (new work refused past 80 %)"
    );
    let metrics = worker
        .wait_for(START, metrics_at)
        .unwrap_or_else(|| panic!("no metrics line:\n{}", worker.transcript()));

    let (status, body) = http_get(metrics, "/healthz").unwrap();
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    let (status, body) = http_get(metrics, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\nrivulet_worker_slots 3\n"), "{body}");
    assert!(body.contains("\nrivulet_worker_ready 1\n"), "{body}");

    // A flag wins over its variable.
    let mut flagged = Proc::demo(
        "flagged",
        &["worker".into(), "--slots".into(), "5".into()],
        &env,
    );
    assert!(
        flagged
            .wait_for(START, |line| line.contains("with 5 slots").then_some(()))
            .is_some(),
        "{}",
        flagged.transcript()
    );

    for mut proc in [worker, flagged] {
        proc.signal(libc::SIGTERM);
        let status = proc.wait_exit(START);
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "{}",
            proc.transcript()
        );
    }
}

#[test]
fn sigterm_lets_a_running_task_finish_then_exits_0() {
    let creds = Credentials::new("cli-drain");
    let mut args = vec!["worker".to_owned()];
    args.extend(creds.worker_flags());
    args.extend(
        [
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            "--slots",
            "2",
            "--drain-timeout",
            "30s",
        ]
        .map(str::to_owned),
    );
    let mut worker = Proc::demo("worker", &args, &[]);
    let addr = worker
        .wait_for(START, listening)
        .unwrap_or_else(|| panic!("{}", worker.transcript()));
    let metrics = worker
        .wait_for(START, metrics_at)
        .unwrap_or_else(|| panic!("{}", worker.transcript()));

    let mut call_args = vec!["call".to_owned(), "--addr".to_owned(), addr.to_string()];
    call_args.extend(creds.client_flags());
    call_args.extend(["--nap-ms".to_owned(), "3000".to_owned()]);
    let mut call = Proc::demo("call", &call_args, &[]);

    // Wait until the task runs on the worker.
    let deadline = Instant::now() + START;
    loop {
        let (_, body) = http_get(metrics, "/metrics").unwrap();
        if body.contains("\nrivulet_worker_busy_slots 1\n") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the task never started:\n{}{}",
            worker.transcript(),
            call.transcript()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    worker.signal(libc::SIGTERM);
    assert!(
        worker
            .wait_for(START, |line| line
                .starts_with("rivulet worker draining")
                .then_some(()))
            .is_some(),
        "{}",
        worker.transcript()
    );
    // Draining: out of service for a readiness probe, but still running the task.
    let (status, body) = http_get(metrics, "/healthz").unwrap();
    assert_eq!((status, body.as_str()), (503, "draining\n"));
    assert!(
        worker.wait_exit(Duration::from_millis(100)).is_none(),
        "it waits for the task"
    );

    let result = call.wait_for(START, |line| {
        line.strip_prefix("result ").map(str::to_owned)
    });
    assert!(
        result.as_deref().is_some_and(|r| r.starts_with("3000 ")),
        "the task's result came back: {result:?}\n{}{}",
        call.transcript(),
        worker.transcript()
    );
    assert_eq!(
        call.wait_exit(START).and_then(|s| s.code()),
        Some(0),
        "{}",
        call.transcript()
    );
    let status = worker.wait_exit(START);
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        worker.transcript()
    );
    assert!(worker.transcript().contains("rivulet worker stopped"));
}

#[test]
fn past_the_drain_timeout_the_worker_stops_anyway() {
    let creds = Credentials::new("cli-timeout");
    let mut args = vec!["worker".to_owned()];
    args.extend(creds.worker_flags());
    args.extend(
        [
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            "--drain-timeout",
            "300ms",
        ]
        .map(str::to_owned),
    );
    let mut worker = Proc::demo("worker", &args, &[]);
    let addr = worker.wait_for(START, listening).expect("listening");
    let metrics = worker.wait_for(START, metrics_at).expect("metrics");
    let mut call_args = vec!["call".to_owned(), "--addr".to_owned(), addr.to_string()];
    call_args.extend(creds.client_flags());
    // Longer than the test waits for the worker to exit below.
    call_args.extend(["--nap-ms".to_owned(), "60000".to_owned()]);
    let mut call = Proc::demo("call", &call_args, &[]);
    let deadline = Instant::now() + START;
    while !http_get(metrics, "/metrics")
        .unwrap()
        .1
        .contains("\nrivulet_worker_busy_slots 1\n")
    {
        assert!(Instant::now() < deadline, "the task never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    worker.signal(libc::SIGTERM);
    let status = worker.wait_exit(Duration::from_secs(20));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        worker.transcript()
    );
    // The client lost its only worker with the task unfinished.
    assert_eq!(
        call.wait_exit(START).and_then(|s| s.code()),
        Some(1),
        "{}",
        call.transcript()
    );
}
