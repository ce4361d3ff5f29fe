//! Messages of a NATS JetStream pull consumer, acknowledged when done (feature `nats`, on
//! [`async_nats`]).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

pub use async_nats;
pub use async_nats::jetstream::consumer::PullConsumer;

use super::SourceError;
use crate::ack::{Ack, Acked};

/// How many messages the source asks the server for at once.
const BATCH: usize = 8;

/// One NATS message: what [`from_jetstream`] yields and [`sinks::nats`](crate::sinks::nats)
/// publishes.
///
/// ```
/// let message = rivulet::sources::nats::NatsMessage::new("orders.new", "{\"id\": 1}");
/// assert_eq!(message.subject, "orders.new");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsMessage {
    /// The subject it was published on.
    pub subject: String,
    /// Its payload.
    pub payload: Bytes,
}

impl NatsMessage {
    /// A message for `subject`.
    ///
    /// ```
    /// let message = rivulet::sources::nats::NatsMessage::new("s", vec![1_u8]);
    /// assert_eq!(message.payload, vec![1_u8]);
    /// ```
    pub fn new(subject: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        NatsMessage {
            subject: subject.into(),
            payload: payload.into(),
        }
    }
}

/// The messages of a JetStream pull `consumer`, each an [`Acked<NatsMessage>`].
///
/// Make the consumer with [`async_nats`] (re-exported here): a durable one with
/// `AckPolicy::Explicit` gives at-least-once, since a message is acknowledged to the server only
/// when its item is done (in the background, on the runtime that polled the stream), and one
/// that is not done within the consumer's `ack_wait` (a crashed pipeline's) is delivered again.
/// The source asks for 8 messages at a time, as the stream is polled. A failure of the
/// server or of the consumer is a [`SourceError::Connector`] item; the client library reconnects
/// and the stream goes on. Dropping it stops the pull.
///
/// ```no_run
/// use rivulet::prelude::*;
/// use rivulet::sources::nats::{async_nats, from_jetstream};
/// use async_nats::jetstream::consumer::{AckPolicy, pull};
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = async_nats::connect("127.0.0.1:4222").await?;
/// let jetstream = async_nats::jetstream::new(client);
/// let stream = jetstream.get_stream("ORDERS").await?;
/// let consumer = stream
///     .get_or_create_consumer("pipeline", pull::Config {
///         durable_name: Some("pipeline".into()),
///         ack_policy: AckPolicy::Explicit,
///         ..Default::default()
///     })
///     .await?;
/// let mut orders = from_jetstream(consumer);
/// while let Some(order) = orders.next().await {
///     println!("{:?}", order?.payload); // done when dropped: acknowledged
/// }
/// # Ok(())
/// # }
/// ```
pub fn from_jetstream(consumer: PullConsumer) -> JetStreamSource {
    JetStreamSource {
        consumer: Some(consumer),
        running: None,
    }
}

/// Stream of [`from_jetstream`].
#[must_use = "streams do nothing unless polled"]
pub struct JetStreamSource {
    consumer: Option<PullConsumer>,
    running: Option<BoxStream<'static, Result<Acked<NatsMessage>, SourceError>>>,
}

fn connector(what: &str, e: impl fmt::Display) -> SourceError {
    SourceError::Connector {
        what: format!("nats: {what}"),
        message: e.to_string(),
    }
}

fn acked(message: async_nats::jetstream::Message) -> Acked<NatsMessage> {
    let value = NatsMessage {
        subject: message.message.subject.to_string(),
        payload: message.message.payload.clone(),
    };
    let ack = match tokio::runtime::Handle::try_current() {
        Ok(runtime) => Ack::new(move || {
            // Acknowledging is a network round trip: never inside the drop that finished it.
            runtime.spawn(async move {
                if let Err(e) = message.ack().await {
                    tracing::warn!(error = %e, "nats: could not acknowledge a message");
                }
            });
        }),
        // Not polled on a runtime: nothing to acknowledge with, so the server redelivers.
        Err(_) => Ack::none(),
    };
    Acked::new(value, ack)
}

impl Stream for JetStreamSource {
    type Item = Result<Acked<NatsMessage>, SourceError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(consumer) = this.consumer.take() {
            let messages = futures::stream::once(async move {
                consumer
                    .stream()
                    .max_messages_per_batch(BATCH)
                    .messages()
                    .await
            })
            .flat_map(|started| match started {
                Ok(messages) => messages
                    .map(|m| m.map(acked).map_err(|e| connector("pulling messages", e)))
                    .left_stream(),
                Err(e) => {
                    futures::stream::iter([Err(connector("starting the pull", e))]).right_stream()
                }
            });
            this.running = Some(Box::pin(messages));
        }
        match this.running.as_mut() {
            Some(running) => running.as_mut().poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}

impl fmt::Debug for JetStreamSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JetStreamSource")
            .field("started", &self.running.is_some())
            .finish_non_exhaustive()
    }
}
