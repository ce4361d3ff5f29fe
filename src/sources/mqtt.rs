//! Messages of an MQTT topic, acknowledged when done (feature `mqtt`, on [`rumqttc`]).

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use rumqttc::{AsyncClient, Event, Packet, Publish};
pub use rumqttc::{MqttOptions, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::SourceError;
use crate::ack::{Ack, Acked};

/// How many messages the source holds that the stream has not taken yet.
const MESSAGES_AHEAD: usize = 8;

/// How long the source waits before reconnecting after a connection error.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// One MQTT message: what [`from_mqtt`] yields and [`sinks::mqtt`](crate::sinks::mqtt)
/// publishes.
///
/// ```
/// use rivulet::sources::mqtt::{MqttMessage, QoS};
/// let message = MqttMessage::new("sensors/1", "21.5").qos(QoS::ExactlyOnce).retain(true);
/// assert_eq!(message.topic, "sensors/1");
/// assert_eq!(message.payload, "21.5");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttMessage {
    /// The topic it was published on.
    pub topic: String,
    /// Its payload.
    pub payload: Bytes,
    /// Its quality of service.
    pub qos: QoS,
    /// Whether the broker keeps it as the topic's retained message.
    pub retain: bool,
}

impl MqttMessage {
    /// A message for `topic`, QoS 1 (at least once), not retained.
    ///
    /// ```
    /// let message = rivulet::sources::mqtt::MqttMessage::new("t", vec![1, 2, 3]);
    /// assert_eq!(message.qos, rivulet::sources::mqtt::QoS::AtLeastOnce);
    /// ```
    pub fn new(topic: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        MqttMessage {
            topic: topic.into(),
            payload: payload.into(),
            qos: QoS::AtLeastOnce,
            retain: false,
        }
    }

    /// Sets the quality of service.
    ///
    /// ```
    /// use rivulet::sources::mqtt::{MqttMessage, QoS};
    /// assert_eq!(MqttMessage::new("t", "x").qos(QoS::AtMostOnce).qos, QoS::AtMostOnce);
    /// ```
    pub fn qos(mut self, qos: QoS) -> Self {
        self.qos = qos;
        self
    }

    /// Sets the retain flag.
    ///
    /// ```
    /// assert!(rivulet::sources::mqtt::MqttMessage::new("t", "x").retain(true).retain);
    /// ```
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }
}

/// Subscribes to `topic` (a filter: `sensors/+/temp`, `logs/#`) on the broker `options` names,
/// yielding each message as an [`Acked<MqttMessage>`].
///
/// The client starts at the first poll, with manual acknowledgements: the `PUBACK` of a QoS 1
/// message (the `PUBREC` of a QoS 2 one) is sent only when its item is done, and in the order the
/// messages came, as MQTT requires. With a persistent session
/// (`options.set_clean_session(false)` and a fixed client id), a pipeline that crashes before
/// finishing a message gets it again when it reconnects: at-least-once. The subscription is
/// renewed on every connection.
///
/// At most 8 messages wait in the source for the stream to take them; while they wait, the
/// connection is not read (the broker holds the rest, up to its in-flight limit). A connection
/// error is a [`SourceError::Connector`] item, after which the client reconnects (half a second
/// later); the stream never ends by itself. Dropping it drops the connection.
///
/// ```no_run
/// use rivulet::prelude::*;
/// use rivulet::sources::mqtt::{MqttOptions, QoS, from_mqtt};
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut options = MqttOptions::new("rivulet-reader", "127.0.0.1", 1883);
/// options.set_clean_session(false);
/// let mut messages = from_mqtt(options, "sensors/#", QoS::AtLeastOnce);
/// while let Some(message) = messages.next().await {
///     let message = message?;
///     println!("{}: {:?}", message.topic, message.payload);
///     drop(message); // done: acknowledged to the broker
/// }
/// # Ok(())
/// # }
/// ```
pub fn from_mqtt(options: MqttOptions, topic: impl Into<String>, qos: QoS) -> MqttSource {
    MqttSource {
        start: Some((options, topic.into(), qos)),
        messages: None,
        task: None,
    }
}

/// Stream of [`from_mqtt`].
#[must_use = "streams do nothing unless polled"]
pub struct MqttSource {
    start: Option<(MqttOptions, String, QoS)>,
    messages: Option<mpsc::Receiver<Result<Acked<MqttMessage>, SourceError>>>,
    task: Option<JoinHandle<()>>,
}

/// Sends the acknowledgements of done messages in the order the messages came.
struct InOrderAcks {
    client: AsyncClient,
    state: Mutex<AckQueue>,
}

struct AckQueue {
    /// Sequence number of `pending[0]`.
    base: u64,
    pending: VecDeque<(Publish, bool)>,
}

impl InOrderAcks {
    fn track(self: &Arc<Self>, publish: Publish) -> Ack {
        let seq = {
            let mut q = self.state.lock().unwrap_or_else(|p| p.into_inner());
            q.pending.push_back((publish, false));
            q.base + q.pending.len() as u64 - 1
        };
        let acks = Arc::clone(self);
        Ack::new(move || acks.done(seq))
    }

    fn done(&self, seq: u64) {
        let mut q = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(index) = seq
            .checked_sub(q.base)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return;
        };
        if let Some(entry) = q.pending.get_mut(index) {
            entry.1 = true;
        }
        while q.pending.front().is_some_and(|(_, done)| *done) {
            if let Some((publish, _)) = q.pending.pop_front() {
                // Never blocks; if the request queue is full the broker redelivers later.
                if let Err(e) = self.client.try_ack(&publish) {
                    tracing::warn!(error = %e, "mqtt: could not queue an acknowledgement");
                }
            }
            q.base += 1;
        }
    }

    /// A new connection without a session: messages of the old one are gone.
    fn reset(&self) {
        let mut q = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let n = q.pending.len() as u64;
        q.pending.clear();
        q.base += n;
    }
}

async fn drive(
    mut options: MqttOptions,
    topic: String,
    qos: QoS,
    tx: mpsc::Sender<Result<Acked<MqttMessage>, SourceError>>,
) {
    options.set_manual_acks(true);
    let (client, mut eventloop) = AsyncClient::new(options, 256);
    let acks = Arc::new(InOrderAcks {
        client: client.clone(),
        state: Mutex::new(AckQueue {
            base: 0,
            pending: VecDeque::new(),
        }),
    });
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(connack))) => {
                if !connack.session_present {
                    acks.reset();
                }
                if let Err(e) = client.try_subscribe(topic.clone(), qos) {
                    let error = SourceError::Connector {
                        what: format!("mqtt: subscribing to {topic}"),
                        message: e.to_string(),
                    };
                    if tx.send(Err(error)).await.is_err() {
                        return;
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let message = MqttMessage {
                    topic: publish.topic.clone(),
                    payload: publish.payload.clone(),
                    qos: publish.qos,
                    retain: publish.retain,
                };
                let ack = if publish.qos == QoS::AtMostOnce {
                    Ack::none()
                } else {
                    acks.track(publish)
                };
                if tx.send(Ok(Acked::new(message, ack))).await.is_err() {
                    return; // the stream is gone
                }
            }
            Ok(_) => {}
            Err(e) => {
                let error = SourceError::Connector {
                    what: "mqtt: connection".to_owned(),
                    message: e.to_string(),
                };
                if tx.send(Err(error)).await.is_err() {
                    return;
                }
                tokio::time::sleep(RECONNECT_DELAY).await;
            }
        }
    }
}

impl Stream for MqttSource {
    type Item = Result<Acked<MqttMessage>, SourceError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some((options, topic, qos)) = this.start.take() {
            let (tx, rx) = mpsc::channel(MESSAGES_AHEAD);
            this.task = Some(tokio::spawn(drive(options, topic, qos, tx)));
            this.messages = Some(rx);
        }
        match this.messages.as_mut() {
            Some(rx) => rx.poll_recv(cx),
            None => Poll::Ready(None),
        }
    }
}

impl Drop for MqttSource {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl fmt::Debug for MqttSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttSource")
            .field("started", &self.task.is_some())
            .finish_non_exhaustive()
    }
}
