//! A standalone rivulet worker: the whole program is `main_with` on the parsed command line.
//!
//! ```text
//! cargo run --release --example worker -- --listen 0.0.0.0:7878 --slots 8 \
//!     --cert certs/worker.pem --key certs/worker.key.pem --secret-file certs/secret \
//!     --metrics 127.0.0.1:9464
//! cargo run --example worker -- --help
//! ```
//!
//! Every flag can also come from a `RIVULET_*` environment variable (`RIVULET_LISTEN`,
//! `RIVULET_CERT`, ...). `--metrics` serves `/metrics` for Prometheus and `/healthz` for
//! readiness probes. SIGTERM drains the worker (running tasks finish) and exits 0.
//!
//! Make the certificate files with `cargo run --example make_certs -- certs`. A worker runs the
//! remote functions compiled into its binary: put your `#[rivulet::remote]` functions in a
//! binary like this one (or link the crate that has them), and it is your worker.

use std::process::ExitCode;

fn main() -> ExitCode {
    rivulet::worker::main_with(rivulet::worker::Args::from_command_line())
}
