//! Messages from WebSocket peers, as a client or as a server (feature `websocket`, on
//! [`tokio_tungstenite`]).

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};
pub use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::SourceError;
use super::record::DEFAULT_MAX_RECORD_SIZE;

fn config(max: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

fn connector(what: &str, e: impl fmt::Display) -> SourceError {
    SourceError::Connector {
        what: format!("websocket: {what}"),
        message: e.to_string(),
    }
}

/// The data of each text or binary message a peer sends, until it closes; `None` at the close.
async fn next_data<S>(ws: &mut S) -> Option<Result<Bytes, SourceError>>
where
    S: Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match ws.next().await? {
            Ok(Message::Text(text)) => return Some(Ok(Message::Text(text).into_data())),
            Ok(Message::Binary(data)) => return Some(Ok(data)),
            Ok(Message::Close(_)) => return None,
            Ok(_) => {} // pings are answered by the library; pongs and raw frames are not data
            Err(e) => return Some(Err(connector("reading", e))),
        }
    }
}

/// Connects to the WebSocket server at `url` (`ws://host:port/path`) and yields the data of each
/// text or binary message it sends, as [`Bytes`].
///
/// The connection is made at the first poll and read only as the stream is polled. The stream
/// ends when the server closes the connection. Failing to connect, a read error, or a message
/// over [`max_message_size`](WebSocketSource::max_message_size) is the last item, a
/// [`SourceError::Connector`]. Dropping the stream drops the connection.
///
/// ```no_run
/// use rivulet::prelude::*;
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut ticks = rivulet::sources::websocket::from_websocket("ws://127.0.0.1:9001/ticks");
/// while let Some(data) = ticks.next().await {
///     println!("{:?}", data?);
/// }
/// # Ok(())
/// # }
/// ```
pub fn from_websocket(url: impl Into<String>) -> WebSocketSource {
    WebSocketSource {
        url: url.into(),
        max_message_size: DEFAULT_MAX_RECORD_SIZE,
        running: None,
    }
}

/// Stream and builder of [`from_websocket`].
#[must_use = "streams do nothing unless polled"]
pub struct WebSocketSource {
    url: String,
    max_message_size: usize,
    running: Option<BoxStream<'static, Result<Bytes, SourceError>>>,
}

impl WebSocketSource {
    /// The largest message accepted (default
    /// [`DEFAULT_MAX_RECORD_SIZE`]).
    ///
    /// # Panics
    /// If `max` is zero.
    ///
    /// ```
    /// let source = rivulet::sources::websocket::from_websocket("ws://127.0.0.1:9001")
    ///     .max_message_size(64 * 1024);
    /// # drop(source);
    /// ```
    #[track_caller]
    pub fn max_message_size(mut self, max: usize) -> Self {
        crate::ops::assert_nonzero(max, "from_websocket", "max_message_size");
        self.max_message_size = max;
        self
    }
}

impl Stream for WebSocketSource {
    type Item = Result<Bytes, SourceError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let (url, max) = (&this.url, this.max_message_size);
        let running = this.running.get_or_insert_with(|| {
            let url = url.clone();
            Box::pin(
                futures::stream::once(async move {
                    tokio_tungstenite::connect_async_with_config(
                        url.as_str(),
                        Some(config(max)),
                        false,
                    )
                    .await
                    .map(|(ws, _response)| ws)
                    .map_err(|e| connector(&format!("connecting to {url}"), e))
                })
                .flat_map(|connected| match connected {
                    Ok(ws) => futures::stream::unfold(Some(ws), |ws| async move {
                        let mut ws = ws?;
                        let item = next_data(&mut ws).await?;
                        let keep = item.is_ok().then_some(ws);
                        Some((item, keep))
                    })
                    .left_stream(),
                    Err(e) => futures::stream::iter([Err(e)]).right_stream(),
                }),
            )
        });
        running.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for WebSocketSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketSource")
            .field("url", &self.url)
            .field("started", &self.running.is_some())
            .finish_non_exhaustive()
    }
}

/// Binds a WebSocket server on `addr` whose stream yields the data of each text or binary
/// message any client sends, as [`Bytes`].
///
/// Returns once bound ([`local_addr`](WebSocketServer::local_addr)) and serving: clients are
/// accepted and their handshakes answered at once (so a client can connect before the stream is
/// first polled), up to 1024 at once; their messages are read as the stream is polled. As with [`from_tcp`](super::from_tcp), at most 8
/// messages wait for the stream to take them and a client whose message cannot be handed on is
/// not read further, so a slow pipeline slows its clients. A client's failed handshake, read
/// error or oversized message is a [`SourceError::Connector`] item and closes that client; the
/// stream never ends by itself. Dropping it closes the listener and every connection.
///
/// ```
/// use futures::SinkExt;
/// use rivulet::prelude::*;
/// use rivulet::sources::websocket::{Message, websocket_server};
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut messages = websocket_server("127.0.0.1:0").await?;
/// let url = format!("ws://{}/", messages.local_addr());
/// let mut sink = rivulet::sinks::websocket::WebSocketSink::connect(&url).await?;
/// sink.send(Message::text("hello")).await?;
/// assert_eq!(messages.next().await.unwrap()?, "hello");
/// # Ok(())
/// # }
/// ```
pub async fn websocket_server(addr: impl ToSocketAddrs) -> Result<WebSocketServer, SourceError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| SourceError::io("binding the WebSocket server", e))?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| SourceError::io("binding the WebSocket server", e))?;
    // Serving starts now, not at the first poll: a client's handshake needs an answer before it
    // can send anything.
    let max = Arc::new(AtomicUsize::new(DEFAULT_MAX_RECORD_SIZE));
    let (tx, rx) = mpsc::channel(8);
    let task = tokio::spawn(serve(listener, tx, Arc::clone(&max)));
    Ok(WebSocketServer {
        local_addr,
        max_message_size: max,
        messages: rx,
        task,
    })
}

/// Stream and builder of [`websocket_server`].
#[must_use = "streams do nothing unless polled"]
pub struct WebSocketServer {
    local_addr: SocketAddr,
    /// Read at each handshake, so the builder can set it after serving started.
    max_message_size: Arc<AtomicUsize>,
    messages: mpsc::Receiver<Result<Bytes, SourceError>>,
    task: JoinHandle<()>,
}

impl WebSocketServer {
    /// The address the server is bound to.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = rivulet::sources::websocket::websocket_server("127.0.0.1:0").await?;
    /// assert_ne!(server.local_addr().port(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The largest message accepted from clients that connect from now on (default
    /// [`DEFAULT_MAX_RECORD_SIZE`]).
    ///
    /// # Panics
    /// If `max` is zero.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = rivulet::sources::websocket::websocket_server("127.0.0.1:0")
    ///     .await?
    ///     .max_message_size(4096);
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn max_message_size(self, max: usize) -> Self {
        crate::ops::assert_nonzero(max, "websocket_server", "max_message_size");
        self.max_message_size.store(max, Ordering::Relaxed);
        self
    }
}

async fn serve(
    listener: TcpListener,
    tx: mpsc::Sender<Result<Bytes, SourceError>>,
    max: Arc<AtomicUsize>,
) {
    let slots = Arc::new(Semaphore::new(1024));
    let mut clients = JoinSet::new();
    loop {
        while clients.try_join_next().is_some() {}
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = tx.closed() => return,
        };
        match accepted {
            Ok((socket, peer)) => {
                let max = max.load(Ordering::Relaxed);
                clients.spawn(read_client(socket, peer, tx.clone(), max, permit));
            }
            Err(e) => {
                tracing::warn!(error = %e, "websocket_server: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn read_client(
    socket: TcpStream,
    peer: SocketAddr,
    tx: mpsc::Sender<Result<Bytes, SourceError>>,
    max: usize,
    _permit: OwnedSemaphorePermit,
) {
    let mut ws = match tokio_tungstenite::accept_async_with_config(socket, Some(config(max))).await
    {
        Ok(ws) => ws,
        Err(e) => {
            let _ = tx
                .send(Err(connector(&format!("handshake with {peer}"), e)))
                .await;
            return;
        }
    };
    while let Some(item) = next_data(&mut ws).await {
        let last = item.is_err();
        if tx.send(item).await.is_err() || last {
            return;
        }
    }
}

impl Stream for WebSocketServer {
    type Item = Result<Bytes, SourceError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.messages.poll_recv(cx)
    }
}

impl Drop for WebSocketServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for WebSocketServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}
