//! Workers as child processes of the current binary.
//!
//! The parent starts its own executable with [`WORKER_ENV`] set, and writes the worker's
//! settings, its secret among them, as the first line of the child's standard input: unlike an
//! environment variable, a pipe is not readable in `/proc/PID/environ` nor inherited by the
//! processes a remote function starts. The pipe then stays open; its end tells the child that
//! the parent is gone.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::debug;

use super::{WorkerAuth, WorkerConfig, WorkerShared, bind, run_until};
use crate::remote::proto::Limits;
use crate::remote::transport::{self, Identity, TransportSettings};

/// The environment variable that turns this binary into a child-process worker (its value is
/// `1`; the settings come on standard input).
pub const WORKER_ENV: &str = "RIVULET_WORKER";

/// What the parent tells a child-process worker, on its standard input.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct ChildSpec {
    pub(crate) slots: usize,
    pub(crate) secret: Vec<u8>,
    pub(crate) keep_alive: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) receive_window: u32,
    /// The parent's limits, so a child is held to the same sizes and quotas as an in-process
    /// worker of the same client.
    pub(crate) limits: Limits,
}

impl ChildSpec {
    pub(crate) fn encode(&self) -> String {
        // Encoding a plain struct of integers and bytes cannot fail.
        hex(&postcard::to_allocvec(self).unwrap_or_default())
    }

    fn decode(text: &str) -> Option<ChildSpec> {
        postcard::from_bytes(&unhex(text)?).ok()
    }
}

/// The line a child-process worker prints once it listens.
const READY: &str = "RIVULET_WORKER_READY";

/// Becomes a child-process worker if this process was started as one (see
/// [`ClientBuilder::processes`](crate::remote::ClientBuilder::processes)), and
/// otherwise returns at once. A worker process serves until its parent goes away (its
/// standard input closes), then exits.
///
/// Call it first thing in `main` of a program whose client runs workers as processes, so that
/// nothing else runs in the workers; in a test binary, from the test the workers are started
/// with (`worker_args(["--exact", "that_test", "--nocapture"])`).
///
/// ```
/// # #[tokio::main]
/// # async fn main() {
/// rivulet::worker::run_if_worker(); // returns at once unless this process is a worker
/// // ... the program proper
/// # }
/// ```
pub fn run_if_worker() {
    if std::env::var_os(WORKER_ENV).is_none() {
        return;
    }
    SERVING.store(true, Ordering::Release);
    let code = match read_spec().and_then(|text| run_child(&text)) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("rivulet worker process: {message}");
            1
        }
    };
    std::process::exit(code);
}

/// Set once this process became a worker in [`run_if_worker`]: a remote function that builds a
/// client of its own there is not a forgotten `run_if_worker`.
static SERVING: AtomicBool = AtomicBool::new(false);

/// The exit status of a child-process worker whose program built a client without calling
/// [`run_if_worker`] first.
pub(crate) const FORGOT_RUN_IF_WORKER: i32 = 3;

/// Called where a client with workers of its own is built: in a
/// process started as a child-process worker that never called [`run_if_worker`], the program
/// took the wrong turn (it would start workers of its own, each running `main` again), so it
/// exits at once with a message that says what to do, which the parent reports.
pub(crate) fn exit_if_worker_without_entry() {
    if std::env::var_os(WORKER_ENV).is_none() || SERVING.load(Ordering::Acquire) {
        return;
    }
    use std::io::Write;
    // Straight to the handle, not `eprintln!`: a test harness captures that, and the exit below
    // would lose it.
    let _ = writeln!(
        std::io::stderr(),
        "rivulet worker process: this program reached `Client::local` or \
         `Client::builder().build()` without calling \
         `rivulet::worker::run_if_worker()` first. Call it first thing in `main` (in a test \
         binary, in the test the workers are started with, see `ClientBuilder::worker_args`), \
         so that the child processes started as workers serve instead of running the program."
    );
    std::process::exit(FORGOT_RUN_IF_WORKER);
}

/// The first line of standard input: the settings the parent wrote.
fn read_spec() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the worker settings from standard input: {e}"))?;
    Ok(line.trim().to_owned())
}

fn run_child(text: &str) -> Result<(), String> {
    let spec = ChildSpec::decode(text)
        .ok_or_else(|| "the worker settings on standard input are malformed".to_owned())?;
    let identity =
        Identity::self_signed([transport::SERVER_NAME.to_owned(), "127.0.0.1".to_owned()])
            .map_err(|e| e.to_string())?;
    let cert = identity
        .certs
        .first()
        .cloned()
        .ok_or("no certificate was made")?;
    let transport = TransportSettings {
        keep_alive: spec.keep_alive,
        idle_timeout: spec.idle_timeout,
        receive_window: spec.receive_window,
    };
    let config = WorkerConfig {
        transport,
        limits: spec.limits,
        ..WorkerConfig::new(identity, WorkerAuth::Secret(spec.secret)).slots(spec.slots.max(1))
    };
    // A thread of its own: `run_if_worker` may be called from inside a runtime (`#[tokio::main]`).
    let serving = std::thread::spawn(move || serve_child(config, cert));
    serving
        .join()
        .map_err(|_| "the worker thread panicked".to_owned())?
}

fn serve_child(
    config: WorkerConfig,
    cert: rustls::pki_types::CertificateDer<'static>,
) -> Result<(), String> {
    use std::io::Write;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let served = runtime.block_on(async move {
        let endpoint = bind(&config).map_err(|e| e.to_string())?;
        let shared = WorkerShared::new(config).map_err(|e| e.to_string())?;
        let addr = endpoint.local_addr().map_err(|e| e.to_string())?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{READY} {addr} {}", hex(&cert))
            .and_then(|()| stdout.flush())
            .map_err(|e| e.to_string())?;
        drop(stdout);
        run_until(endpoint, shared, parent_gone_or_terminated()).await;
        Ok(())
    });
    // The stdin reader may still be blocked in a read; do not wait for it.
    runtime.shutdown_background();
    served
}

/// Resolves when the parent closes our stdin (it exited, or dropped its client) or, on Unix,
/// when we get SIGTERM: either way the worker finishes what it runs and stops.
async fn parent_gone_or_terminated() {
    let parent_gone = tokio::task::spawn_blocking(|| {
        use std::io::Read;
        let mut sink = [0u8; 64];
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
    });
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = parent_gone => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = parent_gone.await;
}

/// How long a child-process worker may take to say where it listens.
const CHILD_START_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a child-process worker could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The current executable could not be found or started.
    #[error("could not start a worker process: {0}")]
    Start(#[source] std::io::Error),
    /// The process ended before it said where it listens. `status` is its exit status (when
    /// it could be read) and `stderr` its last lines of standard error, which usually say why.
    #[error("the worker process exited before it was ready ({}){}", describe_status(.status), describe_stderr(.stderr))]
    Exited {
        /// How the process ended, if known.
        status: Option<std::process::ExitStatus>,
        /// Its last lines on standard error (at most 20), oldest first.
        stderr: Vec<String>,
    },
    /// The process did not say where it listens in time.
    #[error("the worker process did not start within {0:?}")]
    Timeout(Duration),
    /// Its settings could not be written to its standard input.
    #[error("could not hand the worker process its settings: {0}")]
    Settings(#[source] std::io::Error),
}

/// How many of a child's last lines on standard error [`SpawnError::Exited`] carries.
const STDERR_TAIL_LINES: usize = 20;

/// The longest line of a child's standard error kept or passed on, in bytes.
const STDERR_MAX_LINE: usize = 8 * 1024;

/// How long the parent waits for a child that closed its standard output to be reaped, and for
/// its standard error to reach the end.
const CHILD_EXIT_GRACE: Duration = Duration::from_secs(5);

fn describe_status(status: &Option<std::process::ExitStatus>) -> String {
    match status {
        Some(status) if status.code() == Some(FORGOT_RUN_IF_WORKER) => format!(
            "{status}: the program built a client before calling `rivulet::worker::run_if_worker()`"
        ),
        Some(status) => status.to_string(),
        None => "exit status unknown".to_owned(),
    }
}

fn describe_stderr(lines: &[String]) -> String {
    if lines.is_empty() {
        "; it wrote nothing on standard error".to_owned()
    } else {
        format!("; its last lines on standard error:\n{}", lines.join("\n"))
    }
}

/// The last lines a child wrote on standard error; every line is also passed on to this
/// process's standard error, as if the child had inherited it.
#[derive(Debug, Clone, Default)]
struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    fn push(&self, line: String) {
        let mut lines = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == STDERR_TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    fn lines(&self) -> Vec<String> {
        let lines = self.0.lock().unwrap_or_else(|p| p.into_inner());
        lines.iter().cloned().collect()
    }

    /// Reads `stderr` to its end, line by line (a line longer than the limit is cut).
    async fn follow(self, stderr: tokio::process::ChildStderr) {
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        let codec = tokio_util::codec::LinesCodec::new_with_max_length(STDERR_MAX_LINE);
        let mut lines = tokio_util::codec::FramedRead::new(stderr, codec);
        let mut out = tokio::io::stderr();
        while let Some(line) = lines.next().await {
            let line = match line {
                Ok(line) => line,
                Err(tokio_util::codec::LinesCodecError::MaxLineLengthExceeded) => {
                    "[a line longer than 8 KiB was cut]".to_owned()
                }
                Err(tokio_util::codec::LinesCodecError::Io(_)) => break,
            };
            let _ = out.write_all(format!("{line}\n").as_bytes()).await;
            self.push(line);
        }
    }
}

/// How long [`WorkerProcess::shutdown`] lets a child finish its tasks before killing it.
const CHILD_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A worker running as a child process of the current binary (see [`run_if_worker`]).
///
/// The process is killed when this handle is dropped; its standard input closing also tells
/// it to stop. [`Client::builder().processes(true)`](crate::remote::ClientBuilder::processes)
/// starts these for you; start them by hand to connect with
/// [`Client::connect`](crate::Client::connect) or to [`kill`](WorkerProcess::kill) one.
#[derive(Debug)]
pub struct WorkerProcess {
    addr: SocketAddr,
    cert: rustls::pki_types::CertificateDer<'static>,
    process: tokio::process::Child,
    /// The child's standard input, kept open: closing it tells the child to stop.
    stdin: Option<tokio::process::ChildStdin>,
}

impl WorkerProcess {
    /// Starts the current executable, with `args`, as a worker with `slots` task slots that
    /// admits clients proving `secret`; returns once it listens (on 127.0.0.1). It keeps the
    /// default [`Limits`]; [`spawn_with_limits`](Self::spawn_with_limits) sets them.
    pub async fn spawn(
        slots: usize,
        secret: &[u8],
        transport: &TransportSettings,
        args: &[String],
    ) -> Result<WorkerProcess, SpawnError> {
        Self::spawn_with_limits(slots, secret, transport, Limits::default(), args).await
    }

    /// [`spawn`](Self::spawn), with the sizes and quotas the worker holds its clients to.
    /// [`ClientBuilder::limits`](crate::remote::ClientBuilder::limits) hands its limits to the
    /// child-process workers it starts this way.
    ///
    /// (Not run as a doctest: a doctest's executable is rustdoc's harness, which cannot be
    /// started again as a worker; `tests/remote_limits.rs` runs the same from a test binary.)
    ///
    /// ```no_run
    /// use rivulet::remote::proto::Limits;
    /// use rivulet::remote::{ClientAuth, ConnectConfig, TransportSettings, Trust};
    /// use rivulet::worker::WorkerProcess;
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     // The child runs this same program: it serves from here and never returns.
    ///     rivulet::worker::run_if_worker();
    ///
    ///     // A worker that keeps at most 64 MiB of values for each client.
    ///     let limits = Limits { max_bytes_held: 64 << 20, ..Limits::default() };
    ///     let secret = b"the workers' shared secret".to_vec();
    ///     let transport = TransportSettings::default();
    ///     let worker = WorkerProcess::spawn_with_limits(2, &secret, &transport, limits, &[]).await?;
    ///     let trust = Trust::Pinned(vec![worker.certificate().clone()]);
    ///     let config = ConnectConfig::new(trust, ClientAuth::Secret(secret));
    ///     let client = rivulet::Client::connect([worker.local_addr()], config).await?;
    ///     assert_eq!(client.scatter(7_u8).fetch().await?, 7);
    ///     client.shutdown().await;
    ///     worker.shutdown().await;
    ///     Ok(())
    /// }
    /// ```
    pub async fn spawn_with_limits(
        slots: usize,
        secret: &[u8],
        transport: &TransportSettings,
        limits: Limits,
        args: &[String],
    ) -> Result<WorkerProcess, SpawnError> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let exe = std::env::current_exe().map_err(SpawnError::Start)?;
        let spec = ChildSpec {
            slots,
            secret: secret.to_vec(),
            keep_alive: transport.keep_alive,
            idle_timeout: transport.idle_timeout,
            receive_window: transport.receive_window,
            limits,
        };
        let mut process = tokio::process::Command::new(exe)
            .args(args)
            .env(WORKER_ENV, "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(SpawnError::Start)?;
        let tail = StderrTail::default();
        let stderr_done = process
            .stderr
            .take()
            .map(|stderr| tokio::spawn(tail.clone().follow(stderr)));
        let exited = SpawnError::Exited {
            status: None,
            stderr: Vec::new(),
        };
        let Some(mut stdin) = process.stdin.take() else {
            return Err(exited);
        };
        let settings = format!("{}\n", spec.encode());
        stdin
            .write_all(settings.as_bytes())
            .await
            .map_err(SpawnError::Settings)?;
        stdin.flush().await.map_err(SpawnError::Settings)?;
        let Some(stdout) = process.stdout.take() else {
            return Err(exited);
        };
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(CHILD_START_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(ready) = parse_ready_line(&line) {
                    return Ok(ready);
                }
                debug!(line, "worker process said");
            }
            Err(exited)
        })
        .await
        .map_err(|_| SpawnError::Timeout(CHILD_START_TIMEOUT))?;
        let ready = match ready {
            Ok(ready) => ready,
            Err(_) => {
                // Its standard output ended: say how it ended and what it said last.
                let status = tokio::time::timeout(CHILD_EXIT_GRACE, process.wait())
                    .await
                    .ok()
                    .and_then(Result::ok);
                if let Some(done) = stderr_done {
                    let _ = tokio::time::timeout(CHILD_EXIT_GRACE, done).await;
                }
                return Err(SpawnError::Exited {
                    status,
                    stderr: tail.lines(),
                });
            }
        };
        // Keep draining the child's output so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(WorkerProcess {
            addr: ready.0,
            cert: ready.1,
            process,
            stdin: Some(stdin),
        })
    }

    /// Stops the worker gracefully: closes its standard input, so it finishes and answers the
    /// tasks it runs and exits, and waits for that (killing it if it takes longer than 30 s),
    /// without blocking the caller's thread.
    pub async fn shutdown(mut self) {
        drop(self.stdin.take());
        if tokio::time::timeout(CHILD_STOP_TIMEOUT, self.process.wait())
            .await
            .is_err()
        {
            let _ = self.process.kill().await;
        }
    }

    /// Where the worker listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The worker's self-signed certificate, to pin ([`Trust::Pinned`](crate::remote::Trust::Pinned)).
    pub fn certificate(&self) -> &rustls::pki_types::CertificateDer<'static> {
        &self.cert
    }

    /// The operating system's id of the process.
    pub fn pid(&self) -> Option<u32> {
        self.process.id()
    }

    /// Waits for the process to exit.
    pub async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.process.wait().await
    }

    /// Kills the process at once (SIGKILL on Unix), as a crash would.
    pub async fn kill(&mut self) -> std::io::Result<()> {
        self.process.kill().await
    }
}

/// Reads a child's ready line: its address and certificate.
pub(crate) fn parse_ready_line(
    line: &str,
) -> Option<(SocketAddr, rustls::pki_types::CertificateDer<'static>)> {
    let mut words = line.strip_prefix(READY)?.split_whitespace();
    let addr = words.next()?.parse().ok()?;
    let cert = unhex(words.next()?)?;
    Some((addr, rustls::pki_types::CertificateDer::from(cert)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
