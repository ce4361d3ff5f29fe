//! Send to a WebSocket server, or serve WebSocket clients, as a `futures::Sink` (feature
//! `websocket`, on [`tokio_tungstenite`]).

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Sink;
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use crate::sources::websocket::Message;

use super::SinkError;

fn connector(what: &str, e: impl fmt::Display) -> SinkError {
    SinkError::Connector {
        what: format!("websocket: {what}"),
        message: e.to_string(),
    }
}

/// A [`futures::Sink`] of [`Message`]s to a WebSocket server.
///
/// WebSocket has no acknowledgement of its own, so readiness is the connection's: `poll_ready`
/// waits while the library's write buffer is full, and `poll_flush` until what was sent is
/// written to the socket. [`poll_close`](futures::Sink::poll_close) sends a close frame.
///
/// ```no_run
/// use futures::SinkExt;
/// use rivulet::sinks::websocket::{Message, WebSocketSink};
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut sink = WebSocketSink::connect("ws://127.0.0.1:9001/in").await?;
/// sink.send(Message::text("hello")).await?;
/// sink.close().await?;
/// # Ok(())
/// # }
/// ```
pub struct WebSocketSink {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WebSocketSink {
    /// Connects to the server at `url` (`ws://host:port/path`).
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), rivulet::sinks::SinkError> {
    /// let sink = rivulet::sinks::websocket::WebSocketSink::connect("ws://127.0.0.1:9001").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, SinkError> {
        let (ws, _response) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| connector(&format!("connecting to {url}"), e))?;
        Ok(WebSocketSink { ws })
    }
}

impl Sink<Message> for WebSocketSink {
    type Error = SinkError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        Pin::new(&mut self.ws)
            .poll_ready(cx)
            .map_err(|e| connector("sending", e))
    }

    fn start_send(mut self: Pin<&mut Self>, message: Message) -> Result<(), SinkError> {
        Pin::new(&mut self.ws)
            .start_send(message)
            .map_err(|e| connector("sending", e))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        Pin::new(&mut self.ws)
            .poll_flush(cx)
            .map_err(|e| connector("sending", e))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        Pin::new(&mut self.ws)
            .poll_close(cx)
            .map_err(|e| connector("closing", e))
    }
}

impl fmt::Debug for WebSocketSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketSink").finish_non_exhaustive()
    }
}

/// Serves WebSocket clients on `addr` and sends every message to each of them: the server side
/// of a WebSocket publisher (a dashboard, a browser, another service subscribing). Clients that
/// connect later get the messages sent from then on; a client that goes away (or fails) is
/// dropped, without failing the sink.
///
/// Readiness is the slowest client's: a message is flushed once every connected client has it
/// written to its socket, and `poll_ready` waits for the message before. With no client
/// connected, messages go to nobody. Dropping the sink stops serving.
///
/// ```
/// use futures::{SinkExt, StreamExt};
/// use rivulet::sinks::websocket::{websocket_broadcast, Message};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut sink = websocket_broadcast("127.0.0.1:0").await?;
/// let url = format!("ws://{}/", sink.local_addr());
/// let (mut client, _) = tokio_tungstenite::connect_async(url).await?;
/// sink.wait_for_clients(1).await;
/// sink.send(Message::text("hello")).await?;
/// assert_eq!(client.next().await.unwrap()?, Message::text("hello"));
/// # Ok(())
/// # }
/// ```
pub async fn websocket_broadcast(
    addr: impl tokio::net::ToSocketAddrs,
) -> Result<WebSocketBroadcast, SinkError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| connector("binding the broadcast server", e))?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| connector("binding the broadcast server", e))?;
    let clients: Clients = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let (joined, _) = tokio::sync::watch::channel(0_usize);
    let joined = Arc::new(joined);
    let accepting = tokio::spawn(accept(listener, Arc::clone(&clients), Arc::clone(&joined)));
    Ok(WebSocketBroadcast {
        local_addr,
        clients,
        joined,
        accepting,
        queued: None,
        sending: None,
    })
}

type Clients = Arc<tokio::sync::Mutex<Vec<WebSocketStream<TcpStream>>>>;

/// Accepts clients for as long as the sink lives; a failed handshake loses only that client.
async fn accept(
    listener: tokio::net::TcpListener,
    clients: Clients,
    joined: Arc<tokio::sync::watch::Sender<usize>>,
) {
    /// Clients kept at once; one past it is let go after its handshake.
    const MAX_CLIENTS: usize = 1024;
    /// Handshakes at once, each bounded in time: a peer that connects and says nothing holds a
    /// place for a few seconds at most, and more wait in the listener's backlog.
    const MAX_HANDSHAKES: usize = 64;
    const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
    let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(place) = Arc::clone(&handshakes).acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors, or a connection reset before it was taken: wait a
            // little and go on serving.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (clients, joined) = (Arc::clone(&clients), Arc::clone(&joined));
        tokio::spawn(async move {
            let handshake = tokio_tungstenite::accept_async(stream);
            let Ok(Ok(ws)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await else {
                return;
            };
            drop(place);
            let mut clients = clients.lock().await;
            if clients.len() < MAX_CLIENTS {
                clients.push(ws);
                joined.send_modify(|n| *n += 1);
            }
        });
    }
}

/// A [`futures::Sink`] of [`Message`]s to every client of a WebSocket server
/// ([`websocket_broadcast`]).
#[must_use = "sinks do nothing unless sent to"]
pub struct WebSocketBroadcast {
    local_addr: std::net::SocketAddr,
    clients: Clients,
    /// How many clients have joined so far (for [`wait_for_clients`](Self::wait_for_clients)).
    joined: Arc<tokio::sync::watch::Sender<usize>>,
    accepting: tokio::task::JoinHandle<()>,
    queued: Option<Message>,
    sending: Option<futures::future::BoxFuture<'static, ()>>,
}

impl WebSocketBroadcast {
    /// The address the server is bound to.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.local_addr
    }

    /// How many clients are connected now (a client that left is counted until a send to it
    /// fails).
    pub async fn connected(&self) -> usize {
        self.clients.lock().await.len()
    }

    /// Waits until `n` clients have joined since the server started (some may have left).
    pub async fn wait_for_clients(&self, n: usize) {
        let mut joined = self.joined.subscribe();
        let _ = joined.wait_for(|joined| *joined >= n).await;
    }

    /// Drives the message in hand to every client: `Ready` once none is left to send.
    fn poll_sending(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if let Some(sending) = self.sending.as_mut() {
                futures::ready!(sending.as_mut().poll(cx));
                self.sending = None;
            }
            let Some(message) = self.queued.take() else {
                return Poll::Ready(());
            };
            let clients = Arc::clone(&self.clients);
            self.sending = Some(Box::pin(async move {
                use futures::SinkExt;
                let mut clients = clients.lock().await;
                let sent =
                    futures::future::join_all(clients.iter_mut().map(|c| c.send(message.clone())))
                        .await;
                // A client that failed (or left) is dropped; the others go on.
                let mut outcomes = sent.into_iter();
                clients.retain(|_| outcomes.next().is_some_and(|sent| sent.is_ok()));
            }));
        }
    }
}

impl Sink<Message> for WebSocketBroadcast {
    type Error = SinkError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        self.get_mut().poll_sending(cx).map(Ok)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), SinkError> {
        self.get_mut().queued = Some(message);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        self.get_mut().poll_sending(cx).map(Ok)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        self.get_mut().poll_sending(cx).map(Ok)
    }
}

impl Drop for WebSocketBroadcast {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl fmt::Debug for WebSocketBroadcast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketBroadcast")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}
