//! A small read-only HTTP/1.1 server (hyper) for the dashboard and a worker's `/metrics`.
//!
//! It answers `GET` and `HEAD` only, from a table of routes; every answer forbids framing,
//! sniffing, caching and referrers, and pages may load nothing but this server's own files.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// How long a connection may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Pages load scripts, styles and data from this server only, and no page may frame them.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Why a dashboard or metrics server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address could not be resolved.
    #[error("cannot resolve the address to serve on: {0}")]
    Resolve(#[source] Arc<std::io::Error>),
    /// The address resolved to nothing.
    #[error("the address to serve on resolved to no address")]
    NoAddress,
    /// The address could not be listened on (in use, or not this machine's).
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address tried (the last one, if it resolved to several).
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// It was started outside a tokio runtime.
    #[error("a dashboard or metrics server needs a tokio runtime: start it from async code")]
    NoRuntime,
}

/// Addresses to serve on, resolved before they are bound.
#[derive(Debug, Clone)]
pub(crate) struct ServeAddr(Result<Vec<SocketAddr>, Arc<std::io::Error>>);

impl ServeAddr {
    /// Resolves `addr` without blocking the runtime (tokio's resolver runs on a blocking
    /// thread).
    pub(crate) async fn lookup(addr: impl tokio::net::ToSocketAddrs) -> Self {
        ServeAddr(
            tokio::net::lookup_host(addr)
                .await
                .map(Iterator::collect)
                .map_err(Arc::new),
        )
    }
}

/// What a route answers.
pub(crate) enum Reply {
    /// A document of this content type.
    Page(&'static str, Bytes),
    /// A redirect to this path.
    Redirect(&'static str),
    /// Nothing there.
    NotFound,
    /// The data behind the page is gone (the client was dropped).
    Gone,
    /// Not ready (a health check): 503 with this text.
    Unavailable(&'static str),
}

/// The routes of a server: the reply for a path.
pub(crate) type Routes = Arc<dyn Fn(&str) -> Reply + Send + Sync>;

/// A running server; it stops (and closes its connections) when dropped or when its token is
/// cancelled.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl Server {
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Listens on the first of `addrs` that can be bound and serves `routes` on the current tokio
/// runtime until `stop` is cancelled or the returned server dropped.
pub(crate) fn start(
    addrs: &ServeAddr,
    routes: Routes,
    stop: CancellationToken,
) -> Result<Server, ServeError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| ServeError::NoRuntime)?;
    let addrs = addrs
        .0
        .as_ref()
        .map_err(|error| ServeError::Resolve(Arc::clone(error)))?;
    let mut last_error = ServeError::NoAddress;
    for addr in addrs {
        let bound = std::net::TcpListener::bind(addr)
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
            .and_then(|listener| {
                let _entered = runtime.enter();
                TcpListener::from_std(listener)
            })
            .and_then(|listener| Ok((listener.local_addr()?, listener)));
        match bound {
            Ok((local, listener)) => {
                debug!(addr = %local, "serving diagnostics over HTTP");
                runtime.spawn(accept_loop(
                    listener,
                    routes,
                    stop.clone(),
                    local.ip().is_loopback(),
                ));
                return Ok(Server { addr: local, stop });
            }
            Err(source) => {
                last_error = ServeError::Bind {
                    addr: *addr,
                    source,
                }
            }
        }
    }
    Err(last_error)
}

async fn accept_loop(
    listener: TcpListener,
    routes: Routes,
    stop: CancellationToken,
    loopback: bool,
) {
    // Dropped at the end, which aborts the connections still open.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&routes), loopback));
                }
                Err(error) => {
                    // Out of file descriptors, most likely: let some connections end first.
                    debug!(%error, "could not accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, routes: Routes, loopback: bool) {
    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
        let response = respond(&request, &routes, loopback);
        async move { Ok::<_, Infallible>(response) }
    });
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(error) = served {
        debug!(%error, "HTTP connection ended");
    }
}

fn respond<B>(request: &Request<B>, routes: &Routes, loopback: bool) -> Response<Full<Bytes>> {
    if loopback && !host_is_local(request.headers()) {
        // A page of another site, whose name was made to point here (DNS rebinding), must
        // not read this one.
        return plain(
            StatusCode::FORBIDDEN,
            "use http://localhost or an IP address\n",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "read-only: GET and HEAD only\n",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match routes(request.uri().path()) {
        Reply::Page(content_type, body) => {
            let mut response = secured(Response::new(Full::new(body)));
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
        }
        Reply::Redirect(location) => {
            let mut response = plain(StatusCode::SEE_OTHER, "");
            response
                .headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static(location));
            response
        }
        Reply::NotFound => plain(StatusCode::NOT_FOUND, "not found\n"),
        Reply::Gone => plain(StatusCode::SERVICE_UNAVAILABLE, "the client has closed\n"),
        Reply::Unavailable(text) => plain(StatusCode::SERVICE_UNAVAILABLE, text),
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = secured(Response::new(Full::new(Bytes::from_static(
        text.as_bytes(),
    ))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn secured(mut response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

/// Whether the request names this machine (`localhost`) or an address, rather than some
/// other site's name; a request without a `Host` (not from a browser) passes.
fn host_is_local(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST) else {
        return true;
    };
    let Ok(host) = host.to_str() else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        // `[::1]:8787`
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_host(host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::HOST,
            HeaderValue::from_str(host).expect("a valid header"),
        );
        headers
    }

    #[test]
    fn local_hosts_pass_and_other_names_do_not() {
        for host in [
            "localhost:8787",
            "LOCALHOST",
            "127.0.0.1:1",
            "[::1]:8787",
            "10.0.0.7",
        ] {
            assert!(host_is_local(&with_host(host)), "{host}");
        }
        for host in [
            "evil.example:8787",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
        ] {
            assert!(!host_is_local(&with_host(host)), "{host}");
        }
        assert!(host_is_local(&HeaderMap::new()));
    }
}
