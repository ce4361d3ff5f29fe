//! Publish to MQTT as a `futures::Sink` whose readiness is the broker's acknowledgement (feature
//! `mqtt`, on [`rumqttc`]).

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

pub use crate::sources::mqtt::{MqttMessage, MqttOptions, QoS};
use rumqttc::{AsyncClient, Event, Outgoing, Packet};
use tokio::task::JoinHandle;

use super::SinkError;

/// A [`futures::Sink`] of [`MqttMessage`]s publishing to the broker `options` names.
///
/// At most `max_in_flight` QoS 1 and 2 messages are unacknowledged at once:
/// [`poll_ready`](futures::Sink::poll_ready) waits for the broker's `PUBACK`/`PUBCOMP` below
/// that, and [`poll_flush`](futures::Sink::poll_flush) until every message sent is acknowledged,
/// so `sink.send(m).await` (which flushes) resolves when the broker has `m`. QoS 0 messages count
/// as done once handed to the connection. A connection error is returned once, as
/// [`SinkError::Connector`], by the next `poll_ready` or `poll_flush`; the messages in flight
/// then may or may not have reached the broker, and the client reconnects for the next ones.
/// [`poll_close`](futures::Sink::poll_close) flushes and disconnects.
///
/// The client starts at the first `poll_ready`, which must run inside a tokio runtime.
///
/// ```no_run
/// use futures::SinkExt;
/// use rivulet::sinks::mqtt::{MqttMessage, MqttOptions, MqttSink};
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut sink = MqttSink::new(MqttOptions::new("rivulet-writer", "127.0.0.1", 1883), 16);
/// sink.send(MqttMessage::new("sensors/1", "21.5")).await?; // the broker has it
/// sink.close().await?;
/// # Ok(())
/// # }
/// ```
pub struct MqttSink {
    options: Option<MqttOptions>,
    max_in_flight: usize,
    shared: Arc<Mutex<Shared>>,
    client: Option<AsyncClient>,
    task: Option<JoinHandle<()>>,
    /// Messages handed to the client that need an acknowledgement.
    sent: u64,
}

#[derive(Default)]
struct Shared {
    /// Acknowledgements received (PUBACK for QoS 1, PUBCOMP for QoS 2).
    acked: u64,
    /// A connection error not yet reported.
    error: Option<String>,
    /// Connection errors so far: the in-flight count restarts after each.
    errors: u64,
    waker: Option<Waker>,
}

/// Records what the connection reported; `false` when it concerns the sink not at all.
fn record(shared: &Mutex<Shared>, event: Result<Event, rumqttc::ConnectionError>) -> bool {
    let mut s = lock(shared);
    match event {
        Ok(Event::Incoming(Packet::PubAck(_) | Packet::PubComp(_))) => s.acked += 1,
        Ok(_) => return false,
        Err(e) => {
            s.error = Some(e.to_string());
            s.errors += 1;
        }
    }
    if let Some(waker) = s.waker.take() {
        waker.wake();
    }
    true
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

impl MqttSink {
    /// A publisher to the broker of `options`, with at most `max_in_flight` unacknowledged
    /// messages.
    ///
    /// # Panics
    /// If `max_in_flight` is zero.
    ///
    /// ```
    /// use rivulet::sinks::mqtt::{MqttOptions, MqttSink};
    /// let sink = MqttSink::new(MqttOptions::new("id", "127.0.0.1", 1883), 8);
    /// # drop(sink);
    /// ```
    #[track_caller]
    pub fn new(options: MqttOptions, max_in_flight: usize) -> Self {
        crate::ops::assert_nonzero(max_in_flight, "MqttSink::new", "max_in_flight");
        MqttSink {
            options: Some(options),
            max_in_flight,
            shared: Arc::default(),
            client: None,
            task: None,
            sent: 0,
        }
    }

    fn start(&mut self) {
        let Some(mut options) = self.options.take() else {
            return;
        };
        let inflight = u16::try_from(self.max_in_flight).unwrap_or(u16::MAX);
        options.set_inflight(inflight.max(1));
        let (client, mut eventloop) = AsyncClient::new(options, self.max_in_flight + 16);
        let shared = Arc::clone(&self.shared);
        self.client = Some(client);
        self.task = Some(tokio::spawn(async move {
            loop {
                let event = eventloop.poll().await;
                if matches!(event, Ok(Event::Outgoing(Outgoing::Disconnect))) {
                    return;
                }
                if !record(&shared, event) {
                    continue;
                }
                if lock(&shared).error.is_some() {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
        }));
    }

    /// Ready when fewer than `limit` messages wait for their acknowledgement.
    fn poll_below(&mut self, limit: u64, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        self.start();
        let mut s = lock(&self.shared);
        if let Some(message) = s.error.take() {
            // What was in flight is lost or delivered; count afresh.
            s.acked = self.sent;
            return Poll::Ready(Err(SinkError::Connector {
                what: "mqtt: connection".to_owned(),
                message,
            }));
        }
        if self.sent - s.acked.min(self.sent) < limit {
            Poll::Ready(Ok(()))
        } else {
            s.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl futures::Sink<MqttMessage> for MqttSink {
    type Error = SinkError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        let this = self.get_mut();
        let limit = this.max_in_flight as u64;
        this.poll_below(limit, cx)
    }

    fn start_send(self: Pin<&mut Self>, message: MqttMessage) -> Result<(), SinkError> {
        let this = self.get_mut();
        this.start();
        let Some(client) = this.client.as_ref() else {
            return Err(SinkError::Closed);
        };
        let qos = message.qos;
        client
            .try_publish(message.topic, qos, message.retain, message.payload)
            .map_err(|e| SinkError::Connector {
                what: "mqtt: publishing".to_owned(),
                message: e.to_string(),
            })?;
        if qos != QoS::AtMostOnce {
            this.sent += 1;
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        self.get_mut().poll_below(1, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        let this = self.get_mut();
        futures::ready!(this.poll_below(1, cx))?;
        if let Some(client) = this.client.take() {
            let _ = client.try_disconnect();
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for MqttSink {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl fmt::Debug for MqttSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttSink")
            .field("max_in_flight", &self.max_in_flight)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}
