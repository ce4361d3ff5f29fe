//! Send to a WebSocket server as a `futures::Sink` (feature `websocket`, on
//! [`tokio_tungstenite`]).

use std::fmt;
use std::pin::Pin;
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
