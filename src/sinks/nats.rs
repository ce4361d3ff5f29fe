//! Publish to NATS JetStream as a `futures::Sink` whose readiness is the server's
//! acknowledgement (feature `nats`, on [`async_nats`]).

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::FutureExt;
use futures::future::BoxFuture;

pub use crate::sources::nats::{NatsMessage, async_nats};
use async_nats::jetstream::context::PublishAckFuture;

use super::SinkError;

/// A [`futures::Sink`] of [`NatsMessage`]s published to JetStream through `context`.
///
/// Messages are sent to the server in order, one at a time; at most `max_in_flight` wait for
/// the stream's acknowledgement at once. [`poll_ready`](futures::Sink::poll_ready) is ready
/// below that, and [`poll_flush`](futures::Sink::poll_flush) once every message is
/// acknowledged, so `sink.send(m).await` resolves when JetStream has stored `m`. A message the
/// server refuses (no stream for its subject, a timeout) is returned as
/// [`SinkError::Connector`] by the next `poll_ready` or `poll_flush`.
///
/// ```no_run
/// use futures::SinkExt;
/// use rivulet::sinks::nats::{JetStreamSink, NatsMessage, async_nats};
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = async_nats::connect("127.0.0.1:4222").await?;
/// let mut sink = JetStreamSink::new(async_nats::jetstream::new(client), 32);
/// sink.send(NatsMessage::new("orders.new", "{\"id\": 1}")).await?; // stored
/// # Ok(())
/// # }
/// ```
pub struct JetStreamSink {
    context: async_nats::jetstream::Context,
    max_in_flight: usize,
    /// The message being sent to the server.
    sending: Option<BoxFuture<'static, Result<PublishAckFuture, SinkError>>>,
    /// Messages sent, waiting for their acknowledgement, oldest first.
    in_flight: VecDeque<BoxFuture<'static, Result<(), SinkError>>>,
}

fn connector(what: &str, e: impl fmt::Display) -> SinkError {
    SinkError::Connector {
        what: format!("nats: {what}"),
        message: e.to_string(),
    }
}

impl JetStreamSink {
    /// A publisher through `context`, with at most `max_in_flight` unacknowledged messages.
    ///
    /// # Panics
    /// If `max_in_flight` is zero.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use rivulet::sinks::nats::{JetStreamSink, async_nats};
    /// let client = async_nats::connect("127.0.0.1:4222").await?;
    /// let sink = JetStreamSink::new(async_nats::jetstream::new(client), 8);
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn new(context: async_nats::jetstream::Context, max_in_flight: usize) -> Self {
        crate::ops::assert_nonzero(max_in_flight, "JetStreamSink::new", "max_in_flight");
        JetStreamSink {
            context,
            max_in_flight,
            sending: None,
            in_flight: VecDeque::new(),
        }
    }

    /// Drives the send in progress and the acknowledgements; ready once at most `limit` are
    /// outstanding.
    fn poll_until(&mut self, limit: usize, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        if let Some(sending) = self.sending.as_mut() {
            let ack = futures::ready!(sending.poll_unpin(cx));
            self.sending = None;
            let ack = ack?;
            self.in_flight.push_back(Box::pin(async move {
                ack.await
                    .map(drop)
                    .map_err(|e| connector("waiting for the acknowledgement", e))
            }));
        }
        // Acknowledgements come in any order; poll them all, keep the pending ones.
        let mut i = 0;
        while i < self.in_flight.len() {
            match self.in_flight[i].poll_unpin(cx) {
                Poll::Ready(result) => {
                    let _ = self.in_flight.remove(i);
                    result?;
                }
                Poll::Pending => i += 1,
            }
        }
        if self.in_flight.len() <= limit {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }
}

impl futures::Sink<NatsMessage> for JetStreamSink {
    type Error = SinkError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        let this = self.get_mut();
        let limit = this.max_in_flight - 1;
        this.poll_until(limit, cx)
    }

    fn start_send(self: Pin<&mut Self>, message: NatsMessage) -> Result<(), SinkError> {
        let this = self.get_mut();
        if this.sending.is_some() {
            return Err(connector(
                "publishing",
                "start_send called before poll_ready",
            ));
        }
        let context = this.context.clone();
        this.sending = Some(Box::pin(async move {
            context
                .publish(message.subject, message.payload)
                .await
                .map_err(|e| connector("publishing", e))
        }));
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        self.get_mut().poll_until(0, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        self.get_mut().poll_until(0, cx)
    }
}

impl fmt::Debug for JetStreamSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JetStreamSink")
            .field("max_in_flight", &self.max_in_flight)
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}
