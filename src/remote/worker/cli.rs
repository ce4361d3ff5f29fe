//! The worker's command line: [`Args`] and [`main_with`], so that any binary is a worker.
//!
//! A worker runs the remote functions compiled into its binary, so a user's own binary, which
//! carries their functions, becomes a worker in three lines:
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! #[rivulet::remote]
//! fn inc(x: i64) -> i64 {
//!     x + 1
//! }
//!
//! fn main() -> ExitCode {
//!     rivulet::worker::main_with(rivulet::worker::Args::from_command_line())
//! }
//! ```
//!
//! Every flag can also be given as a `RIVULET_*` environment variable (`--listen` is
//! `RIVULET_LISTEN`, `--drain-timeout` is `RIVULET_DRAIN_TIMEOUT`, ...), which is how
//! orchestrators (Kubernetes, Nomad, systemd) usually pass settings; a flag wins over its
//! variable. On SIGTERM or Ctrl-C the worker stops taking clients, lets the tasks it runs finish
//! and their replies go out for at most the drain timeout, and exits with code 0; a second
//! signal stops it at once. With `--metrics ADDR` it serves `/metrics` (Prometheus) and
//! `/healthz` (200 `ready` while it serves, 503 while it starts or drains).
//!
//! Exit codes: 0 after a clean stop, 2 for a bad command line or a setting it cannot use (a
//! missing file, an address it cannot listen on: one line on standard error says which), 1 for
//! anything else.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use super::{WorkerAuth, WorkerConfig, WorkerError, WorkerShared, bind, run_until_drained};
use crate::remote::obs::{ServeError, serve_metrics};
use crate::remote::proto::{DEFAULT_MAX_TASKS, Limits};
use crate::remote::transport::{Identity, TlsError, Trust};

const ABOUT: &str = "A rivulet worker: runs the remote functions compiled into this binary for \
clients that connect over QUIC (TLS 1.3).";

const LONG_ABOUT: &str = "A rivulet worker: runs the remote functions compiled into this binary \
for clients that connect over QUIC (TLS 1.3).

It needs a certificate and its key (clients check them), and one way to tell clients from \
strangers: a shared secret that clients prove without sending it (--secret-file), or client \
certificates issued by a CA (--client-ca). `cargo run --example make_certs -- certs` makes a CA, \
a worker certificate and a client certificate to start with.

Every flag can also be set by the environment variable shown with it; a flag wins over its \
variable.";

const AFTER_HELP: &str = "Example:
  worker --listen 0.0.0.0:7878 --cert certs/worker.pem --key certs/worker.key.pem \\
         --secret-file certs/secret --metrics 0.0.0.0:9464

On SIGTERM or Ctrl-C the worker takes no new clients, lets its running tasks finish (at most \
--drain-timeout), then exits with code 0; a second signal stops it at once. Exit code 2 means a \
bad flag or a setting it cannot use (a missing file, an address it cannot listen on).";

/// The worker's command line (and `RIVULET_*` environment variables).
///
/// Parse it with [`Args::from_command_line`] (or `clap::Parser::parse`), change what you like,
/// and hand it to [`main_with`]. Paths and addresses are only checked by `main_with`, so that
/// its errors name the file or address that is wrong.
///
/// ```
/// use rivulet::worker::Args;
/// use clap::Parser;
///
/// let args = Args::try_parse_from([
///     "worker", "--cert", "w.pem", "--key", "w.key.pem", "--secret-file", "secret",
///     "--listen", "0.0.0.0:7878", "--drain-timeout", "90s",
/// ])
/// .unwrap();
/// assert_eq!(args.listen.port(), 7878);
/// assert_eq!(args.drain_timeout, std::time::Duration::from_secs(90));
/// assert!(args.slots.is_none()); // the machine's cores
///
/// // One way to authenticate clients, exactly.
/// assert!(Args::try_parse_from(["worker", "--cert", "w.pem", "--key", "k.pem"]).is_err());
/// ```
#[derive(Debug, Clone, Parser)]
#[command(name = "worker", version, about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
#[command(group(clap::ArgGroup::new("auth").required(true).args(["secret_file", "client_ca"])))]
#[non_exhaustive]
pub struct Args {
    /// Where to listen for clients (UDP): an IP address and a port; 0.0.0.0:7878 listens on
    /// every interface.
    #[arg(
        long,
        env = "RIVULET_LISTEN",
        value_name = "ADDR",
        default_value = "127.0.0.1:7878"
    )]
    pub listen: SocketAddr,

    /// The worker's certificate chain (PEM); clients trust it or the CA that signed it.
    #[arg(long, env = "RIVULET_CERT", value_name = "FILE")]
    pub cert: PathBuf,

    /// The private key of --cert (PEM).
    #[arg(long, env = "RIVULET_KEY", value_name = "FILE")]
    pub key: PathBuf,

    /// A file holding the secret clients must prove (surrounding whitespace is ignored), e.g.
    /// made with `head -c 32 /dev/urandom | base64 > secret`.
    #[arg(long, env = "RIVULET_SECRET_FILE", value_name = "FILE")]
    pub secret_file: Option<PathBuf>,

    /// Instead of a secret: admit clients whose certificate this CA (PEM) issued.
    #[arg(long, env = "RIVULET_CLIENT_CA", value_name = "FILE")]
    pub client_ca: Option<PathBuf>,

    /// How many tasks run at once, each on a thread of its own [default: the machine's cores].
    #[arg(long, env = "RIVULET_SLOTS", value_name = "N")]
    pub slots: Option<NonZeroUsize>,

    /// Serve /metrics (Prometheus text) and /healthz (200 once serving, 503 while starting or
    /// draining) over HTTP on this address, e.g. 0.0.0.0:9464.
    #[arg(long, env = "RIVULET_METRICS", value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,

    /// After SIGTERM or Ctrl-C, how long running tasks may take to finish before the worker
    /// closes anyway: 30s, 500ms, 2m, or plain seconds.
    #[arg(
        long,
        env = "RIVULET_DRAIN_TIMEOUT",
        value_name = "DURATION",
        default_value = "25s",
        value_parser = parse_duration
    )]
    pub drain_timeout: Duration,

    /// The bytes of values the worker keeps for all its clients together; past 80 % of it,
    /// new values and tasks are refused (clients see `Overloaded` and may retry elsewhere):
    /// 512MiB, 4Gi, 2GB, or plain bytes, as Kubernetes gives a container's memory limit
    /// (`resourceFieldRef: limits.memory`) [default: no limit but each client's
    /// --max-bytes-held].
    #[arg(long, env = "RIVULET_MEMORY_LIMIT", value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<u64>,

    /// The largest value the worker takes, makes or sends (SIZE as for --memory-limit).
    #[arg(
        long,
        env = "RIVULET_MAX_VALUE",
        value_name = "SIZE",
        default_value = "1GiB",
        value_parser = parse_size
    )]
    pub max_value: u64,

    /// The bytes of values one client may keep on the worker; past it its values and tasks
    /// are refused (SIZE as for --memory-limit).
    #[arg(
        long,
        env = "RIVULET_MAX_BYTES_HELD",
        value_name = "SIZE",
        default_value = "4GiB",
        value_parser = parse_size
    )]
    pub max_bytes_held: u64,

    /// The tasks one client may have queued or running on the worker; past it its tasks are
    /// refused.
    #[arg(long, env = "RIVULET_MAX_TASKS", value_name = "N", default_value_t = DEFAULT_MAX_TASKS)]
    pub max_tasks: usize,
}

impl Args {
    /// Parses the process's command line and `RIVULET_*` variables; on a bad flag it prints
    /// what is wrong and exits with code 2 (and on `--help`, the help, with code 0).
    ///
    /// ```no_run
    /// let args = rivulet::worker::Args::from_command_line();
    /// println!("listening on {}", args.listen);
    /// ```
    pub fn from_command_line() -> Args {
        Args::parse()
    }
}

/// Parses `30s`, `500ms`, `2m`, `1h` or plain seconds (`30`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (try 30s, 500ms or 2m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1e3,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        other => return Err(format!("unknown unit `{other}` (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

/// Parses a size in bytes: plain (`4294967296`), or with a unit as Kubernetes writes them
/// (`Ki`, `Mi`, `Gi`, `Ti` for powers of 1024, `k`, `M`, `G`, `T` for powers of 1000), an
/// optional `B` after it (`512MiB`, `2GB`); spaces between are allowed.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (try 512MiB, 4Gi or 2GB)"))?;
    let unit = unit.trim();
    let unit = unit.strip_suffix('B').unwrap_or(unit);
    let scale: u64 = match unit {
        "" => 1,
        "k" | "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (use Ki, Mi, Gi, Ti or k, M, G, T)"
            ));
        }
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Why a worker given on the command line could not start.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("{0}")]
    Identity(#[source] TlsError),
    #[error("cannot read the secret file {}: {source}", path.display())]
    Secret {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the secret file {} is empty", path.display())]
    EmptySecret { path: PathBuf },
    #[error("{0}")]
    ClientCa(#[source] TlsError),
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        addr: SocketAddr,
        source: ServeError,
    },
    #[error("{0}")]
    Listen(#[source] WorkerError),
    #[error("no way to admit clients: set --secret-file or --client-ca")]
    NoAuth,
}

/// Runs a worker as `args` say until SIGTERM or Ctrl-C, then drains it: it takes no new
/// clients, lets running tasks finish for at most [`Args::drain_timeout`], and exits; a second
/// signal stops it at once. Returns the process's exit code: 0 after a clean stop, 2 for a
/// setting it cannot use (one line on standard error names the file or address), 1 otherwise. It starts its own tokio runtime, so call it
/// from plain `main`, not from inside `#[tokio::main]`.
///
/// ```no_run
/// use std::process::ExitCode;
///
/// fn main() -> ExitCode {
///     rivulet::worker::main_with(rivulet::worker::Args::from_command_line())
/// }
/// ```
pub fn main_with(args: Args) -> ExitCode {
    let slots = args
        .slots
        .map_or_else(super::default_slots, NonZeroUsize::get);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(slots + 8)
        .thread_name("rivulet-worker")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("rivulet worker: could not start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(args, slots));
    // A task still running past the drain timeout is on a blocking thread: do not wait for it.
    runtime.shutdown_background();
    code
}

async fn run(args: Args, slots: usize) -> ExitCode {
    let (endpoint, config, metrics) = match start(&args, slots).await {
        Ok(started) => started,
        Err(error) => {
            eprintln!("rivulet worker: {error}");
            return ExitCode::from(2);
        }
    };
    let (first, mut second) = signals();
    let drain_timeout = args.drain_timeout;
    let addr = endpoint.local_addr().unwrap_or(args.listen);
    let limits_line = limits_line(&config);
    let on_serving = || {
        println!("rivulet worker listening on {addr} with {slots} slots");
        println!("{limits_line}");
        if let Some(metrics) = &metrics {
            let at = metrics.local_addr();
            println!("metrics at http://{at}/metrics, health at http://{at}/healthz");
        }
    };
    let shared = match WorkerShared::new(config) {
        Ok(shared) => shared,
        Err(error) => {
            eprintln!("rivulet worker: {error}");
            return ExitCode::from(2);
        }
    };
    let served = run_until_drained(endpoint, shared, first, drain_timeout, on_serving, || {
        println!(
            "rivulet worker draining: finishing running tasks (at most {drain_timeout:?}); \
             a second signal stops at once"
        );
    });
    tokio::select! {
        () = served => {
            println!("rivulet worker stopped");
            ExitCode::SUCCESS
        }
        () = second.as_mut() => {
            println!("rivulet worker stopped at once (second signal)");
            ExitCode::from(1)
        }
    }
}

/// What the worker holds its clients to, as it will serve: one line for its log.
fn limits_line(config: &WorkerConfig) -> String {
    let memory = config
        .memory_limit
        .map_or_else(|| "none".to_owned(), |bytes| format!("{bytes} bytes"));
    format!(
        "limits: values up to {} bytes; each client up to {} bytes held and {} tasks; \
         memory limit {memory} (new work refused past 80 %)",
        config.limits.max_value, config.limits.max_bytes_held, config.limits.max_tasks
    )
}

/// Everything that can go wrong before serving, checked in the order of the flags.
async fn start(
    args: &Args,
    slots: usize,
) -> Result<
    (
        quinn::Endpoint,
        WorkerConfig,
        Option<crate::remote::obs::MetricsServer>,
    ),
    StartError,
> {
    let identity = Identity::from_pem_files(&args.cert, &args.key).map_err(StartError::Identity)?;
    let auth = match (&args.secret_file, &args.client_ca) {
        (Some(path), _) => {
            let secret = tokio::fs::read(path)
                .await
                .map_err(|source| StartError::Secret {
                    path: path.clone(),
                    source,
                })?;
            let secret = secret.trim_ascii();
            if secret.is_empty() {
                return Err(StartError::EmptySecret { path: path.clone() });
            }
            WorkerAuth::Secret(secret.to_vec())
        }
        (None, Some(path)) => WorkerAuth::ClientCertificates(
            Trust::ca_from_pem_file(path).map_err(StartError::ClientCa)?,
        ),
        // clap requires one of the two, but `Args`' fields can be changed after parsing.
        (None, None) => return Err(StartError::NoAuth),
    };
    let config = WorkerConfig {
        limits: Limits {
            max_value: args.max_value,
            max_bytes_held: args.max_bytes_held,
            max_tasks: args.max_tasks,
            ..Limits::default()
        },
        memory_limit: args.memory_limit,
        ..WorkerConfig::new(identity, auth)
            .listen(args.listen)
            .slots(slots)
    };
    let metrics = match args.metrics {
        Some(addr) => Some(
            serve_metrics(addr)
                .await
                .map_err(|source| StartError::Metrics { addr, source })?,
        ),
        None => None,
    };
    let endpoint = bind(&config).map_err(StartError::Listen)?;
    Ok((endpoint, config, metrics))
}

/// A signal to wait for.
type Waiting = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The first SIGTERM or Ctrl-C, and the one after it.
fn signals() -> (Waiting, Waiting) {
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    let (second_tx, second_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut signal = Signal::new();
        signal.next().await;
        let _ = first_tx.send(());
        signal.next().await;
        let _ = second_tx.send(());
    });
    let first = async move {
        // A dropped sender (no signal handling at all) means: serve until killed.
        if first_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let second = async move {
        if second_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    (Box::pin(first), Box::pin(second))
}

/// SIGTERM (on Unix) or Ctrl-C, as many times as they come.
struct Signal {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signal {
    fn new() -> Self {
        Signal {
            #[cfg(unix)]
            terminate: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .ok(),
        }
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(terminate) = &mut self.terminate {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_their_units() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3 fortnights").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn sizes_parse_as_kubernetes_writes_them() {
        assert_eq!(parse_size("4294967296"), Ok(4 << 30));
        assert_eq!(parse_size("4Gi"), Ok(4 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("512 Mi"), Ok(512 << 20));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("64k"), Ok(64_000));
        assert_eq!(parse_size("1Ti"), Ok(1 << 40));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("1.5Gi").is_err());
        assert!(parse_size("4 gigs").is_err());
        assert!(parse_size("99999999999Ti").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn the_limits_flags_reach_the_worker() {
        let args = Args::try_parse_from([
            "worker",
            "--cert",
            "w.pem",
            "--key",
            "k.pem",
            "--secret-file",
            "s",
            "--memory-limit",
            "2Gi",
            "--max-value",
            "64MiB",
            "--max-tasks",
            "500",
        ])
        .expect("parses");
        assert_eq!(args.memory_limit, Some(2 << 30));
        assert_eq!(args.max_value, 64 << 20);
        assert_eq!(
            args.max_bytes_held,
            crate::remote::proto::DEFAULT_MAX_BYTES_HELD
        );
        assert_eq!(args.max_tasks, 500);
        let defaults = Args::try_parse_from([
            "worker",
            "--cert",
            "w.pem",
            "--key",
            "k.pem",
            "--client-ca",
            "c",
        ])
        .expect("parses");
        assert_eq!(defaults.memory_limit, None);
        assert_eq!(defaults.max_value, crate::remote::proto::DEFAULT_MAX_VALUE);
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
