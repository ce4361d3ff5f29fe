//! Each POST body is an item: streamz's `from_http_server`.

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

use super::SourceError;

/// How long a connection may take to finish its requests once the stream is dropped.
const GRACE: Duration = Duration::from_secs(5);

/// A posted body waiting to be taken, and who to tell when it is.
type Posted = (Bytes, oneshot::Sender<()>);

/// Binds an HTTP/1 server on `addr` whose stream yields the body of each POST request:
/// streamz's `from_http_server`.
///
/// Returns once bound ([`local_addr`](HttpServer::local_addr) tells the port); requests are
/// served from the first poll on. A POST to a path under [`path`](HttpServer::path) (default
/// `/`, every path) is answered **when the stream yields its body**: `200 OK` then, so a client
/// that got its answer knows the pipeline has the item, and a slow pipeline slows its clients.
/// Other answers, each with a plain-text body saying why:
///
/// - `405` for another method, `404` for a path outside [`path`](HttpServer::path);
/// - `413` for a body over [`max_body_size`](HttpServer::max_body_size) (1 MiB by default);
/// - `429` when [`max_waiting`](HttpServer::max_waiting) requests (64 by default) already wait
///   for the pipeline;
/// - `503` when the stream is dropped (the pipeline is shut) while the request waits.
///
/// Dropping the stream closes the listener at once (a new request is refused), answers the
/// waiting requests with `503` and closes their connections within a few seconds.
///
/// ```
/// use rivulet::prelude::*;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut bodies = rivulet::sources::from_http_server("127.0.0.1:0").await?;
/// let addr = bodies.local_addr();
/// let client = tokio::spawn(async move {
///     let mut conn = tokio::net::TcpStream::connect(addr).await?;
///     conn.write_all(b"POST /events HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello").await?;
///     let mut answer = String::new();
///     conn.read_to_string(&mut answer).await?;
///     Ok::<_, std::io::Error>(answer)
/// });
/// assert_eq!(bodies.next().await.unwrap()?, "hello");
/// assert!(client.await??.starts_with("HTTP/1.1 200"));
/// # Ok(())
/// # }
/// ```
pub async fn from_http_server(addr: impl ToSocketAddrs) -> Result<HttpServer, SourceError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| SourceError::io("binding the HTTP source", e))?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| SourceError::io("binding the HTTP source", e))?;
    let (shutdown, _) = watch::channel(());
    Ok(HttpServer {
        listener: Some(listener),
        local_addr,
        path: "/".to_owned(),
        max_body_size: 1 << 20,
        max_waiting: 64,
        bodies: None,
        shutdown,
    })
}

/// Stream and builder of [`from_http_server`].
///
/// Options set after the first poll have no effect.
#[must_use = "streams do nothing unless polled"]
pub struct HttpServer {
    listener: Option<TcpListener>,
    local_addr: SocketAddr,
    path: String,
    max_body_size: usize,
    max_waiting: usize,
    bodies: Option<mpsc::Receiver<Posted>>,
    /// Dropped with the stream, which tells the server to stop.
    shutdown: watch::Sender<()>,
}

impl HttpServer {
    /// The address the server is bound to.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let bodies = rivulet::sources::from_http_server("127.0.0.1:0").await?;
    /// assert_ne!(bodies.local_addr().port(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Accept POSTs only to paths that start with `prefix` (default `/`: every path).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let bodies = rivulet::sources::from_http_server("127.0.0.1:0").await?.path("/ingest");
    /// # Ok(())
    /// # }
    /// ```
    pub fn path(mut self, prefix: impl Into<String>) -> Self {
        self.path = prefix.into();
        self
    }

    /// The largest body accepted, in bytes (default 1 MiB); a larger one is answered `413`.
    ///
    /// # Panics
    /// If `max` is zero.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let bodies = rivulet::sources::from_http_server("127.0.0.1:0").await?.max_body_size(4096);
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn max_body_size(mut self, max: usize) -> Self {
        crate::ops::assert_nonzero(max, "from_http_server", "max_body_size");
        self.max_body_size = max;
        self
    }

    /// How many requests may wait for the pipeline at once (default 64); more are answered `429`.
    ///
    /// # Panics
    /// If `n` is zero.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let bodies = rivulet::sources::from_http_server("127.0.0.1:0").await?.max_waiting(8);
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn max_waiting(mut self, n: usize) -> Self {
        crate::ops::assert_nonzero(n, "from_http_server", "max_waiting");
        self.max_waiting = n;
        self
    }
}

fn answer(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

#[derive(Clone)]
struct Shared {
    tx: mpsc::Sender<Posted>,
    waiting: Arc<Semaphore>,
    path: Arc<str>,
    max_body_size: usize,
}

async fn handle(request: Request<Incoming>, shared: Shared) -> Response<Full<Bytes>> {
    if request.method() != Method::POST {
        return answer(StatusCode::METHOD_NOT_ALLOWED, "only POST is accepted\n");
    }
    if !request.uri().path().starts_with(&*shared.path) {
        return answer(StatusCode::NOT_FOUND, "no such path\n");
    }
    let Ok(_permit) = Arc::clone(&shared.waiting).try_acquire_owned() else {
        return answer(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests are waiting for the pipeline; retry later\n",
        );
    };
    let body = match Limited::new(request.into_body(), shared.max_body_size)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return answer(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large\n");
        }
        Err(_) => return answer(StatusCode::BAD_REQUEST, "the body could not be read\n"),
    };
    let (taken_tx, taken_rx) = oneshot::channel();
    if shared.tx.send((body, taken_tx)).await.is_err() {
        return answer(StatusCode::SERVICE_UNAVAILABLE, "the pipeline is shut\n");
    }
    match taken_rx.await {
        Ok(()) => answer(StatusCode::OK, "taken\n"),
        Err(_) => answer(StatusCode::SERVICE_UNAVAILABLE, "the pipeline is shut\n"),
    }
}

async fn serve(listener: TcpListener, shared: Shared, mut shutdown: watch::Receiver<()>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return, // the stream was dropped: close the listener
        };
        let socket = match accepted {
            Ok((socket, _)) => socket,
            Err(e) => {
                tracing::warn!(error = %e, "from_http_server: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(request, shared).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = shutdown.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(GRACE, connection).await;
                }
            }
        });
    }
}

impl Stream for HttpServer {
    type Item = Result<Bytes, SourceError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(listener) = this.listener.take() {
            let (tx, rx) = mpsc::channel(1);
            let shared = Shared {
                tx,
                waiting: Arc::new(Semaphore::new(this.max_waiting)),
                path: Arc::from(this.path.as_str()),
                max_body_size: this.max_body_size,
            };
            tokio::spawn(serve(listener, shared, this.shutdown.subscribe()));
            this.bodies = Some(rx);
        }
        let Some(rx) = this.bodies.as_mut() else {
            return Poll::Ready(None);
        };
        match futures::ready!(rx.poll_recv(cx)) {
            Some((body, taken)) => {
                // A client that hung up does not need its answer; its body is still an item.
                let _ = taken.send(());
                Poll::Ready(Some(Ok(body)))
            }
            None => Poll::Ready(None),
        }
    }
}

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("local_addr", &self.local_addr)
            .field("path", &self.path)
            .field("started", &self.bodies.is_some())
            .finish_non_exhaustive()
    }
}
