//! The live dashboard of a client: `/status`, a page that follows its workers and tasks as they
//! run (streamz's and Dask's diagnostics page), and `/metrics` for Prometheus.
//!
//! Start it with [`ClientBuilder::dashboard`](crate::remote::ClientBuilder::dashboard)
//! or [`Client::serve_dashboard`]. It serves:
//!
//! - `/status`: a self-contained page (its HTML, CSS and JavaScript are compiled into the
//!   crate) that polls `/api/state` twice a second: the workers (address, slots busy, tasks in
//!   flight, values held, connected or lost), a task stream (recent tasks per worker as bars on
//!   a time axis), throughput and round-trip latency over the last minutes, and recent errors;
//! - `/api/state`: the [`Snapshot`](crate::remote::obs::Snapshot) behind the page, as JSON;
//! - `/metrics`: [`Metrics::prometheus`].
//!
//! It is read-only (`GET` and `HEAD`) and shows addresses, function names, counts and error
//! messages, never a secret. Bound to a loopback address (the usual `127.0.0.1:8787`) it
//! answers only requests addressed to `localhost` or an IP address; any other address exposes
//! it to whoever can reach that address.

mod http;

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;

pub use self::http::ServeError;
pub(crate) use self::http::{Reply, Routes, ServeAddr, Server, start};
use super::metrics::Metrics;

const STATUS_HTML: &str = include_str!("status.html");
const STATUS_CSS: &str = include_str!("status.css");
const STATUS_JS: &str = include_str!("status.js");

/// How often the dashboard samples throughput and latency (the history keeps one sample a
/// second; ticking faster keeps the samples close to whole seconds).
const TICK: Duration = Duration::from_millis(250);

/// A running dashboard ([`Client::serve_dashboard`](crate::Client::serve_dashboard)); it stops when this handle, or its client,
/// is dropped.
#[derive(Debug)]
pub struct Dashboard {
    server: Server,
}

impl Dashboard {
    /// Serves `metrics` on the first of `addr`'s addresses that can be bound, until the handle
    /// is dropped or the metrics' client goes.
    pub(crate) fn start(metrics: &Arc<Metrics>, addr: &ServeAddr) -> Result<Dashboard, ServeError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ServeError::NoRuntime)?;
        let stop = metrics.closed().child_token();
        let reading = Arc::downgrade(metrics);
        let routes: Routes = Arc::new(move |path| route(&reading, path));
        let server = http::start(addr, routes, stop.clone())?;
        let sampled = Arc::downgrade(metrics);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = tick.tick() => match sampled.upgrade() {
                        Some(metrics) => metrics.sample_if_due(),
                        None => break,
                    },
                }
            }
        });
        Ok(Dashboard { server })
    }

    /// The address it listens on (with the port chosen, if port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The page's address, `http://ADDR/status`.
    pub fn url(&self) -> String {
        format!("http://{}/status", self.local_addr())
    }
}

fn route(metrics: &Weak<Metrics>, path: &str) -> Reply {
    match path {
        "/" => Reply::Redirect("/status"),
        "/status" => Reply::Page(
            "text/html; charset=utf-8",
            Bytes::from_static(STATUS_HTML.as_bytes()),
        ),
        "/status.css" => Reply::Page(
            "text/css; charset=utf-8",
            Bytes::from_static(STATUS_CSS.as_bytes()),
        ),
        "/status.js" => Reply::Page(
            "text/javascript; charset=utf-8",
            Bytes::from_static(STATUS_JS.as_bytes()),
        ),
        "/api/state" | "/metrics" => {
            let Some(metrics) = metrics.upgrade() else {
                return Reply::Gone;
            };
            if path == "/metrics" {
                return Reply::Page(
                    "text/plain; version=0.0.4; charset=utf-8",
                    Bytes::from(metrics.prometheus()),
                );
            }
            match serde_json::to_vec(&metrics.snapshot()) {
                Ok(json) => Reply::Page("application/json", Bytes::from(json)),
                // The snapshot is plain numbers and strings; this cannot happen.
                Err(error) => {
                    tracing::warn!(%error, "could not encode the dashboard's state");
                    Reply::Gone
                }
            }
        }
        _ => Reply::NotFound,
    }
}
