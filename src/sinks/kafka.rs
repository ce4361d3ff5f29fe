//! Publish to Kafka as a `futures::Sink` whose readiness is the brokers' delivery reports
//! (feature `kafka`, on [`rdkafka`]).

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::FutureExt;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

pub use crate::sources::kafka::{ClientConfig, KafkaMessage, rdkafka};

use super::SinkError;

fn connector(what: &str, e: impl fmt::Display) -> SinkError {
    SinkError::Connector {
        what: format!("kafka: {what}"),
        message: e.to_string(),
    }
}

/// A publisher to the brokers `config` names (`bootstrap.servers`), with at most
/// `max_in_flight` messages not yet delivered: streamz's `to_kafka`.
///
/// `config` is an [`rdkafka`] producer configuration; `message.timeout.ms` bounds how long a
/// message may wait for the brokers (librdkafka's default is 5 minutes).
///
/// # Panics
/// If `max_in_flight` is zero.
///
/// ```no_run
/// use futures::SinkExt;
/// use rivulet::sinks::kafka::{ClientConfig, KafkaMessage, to_kafka};
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = ClientConfig::new();
/// config.set("bootstrap.servers", "127.0.0.1:9092");
/// let mut sink = to_kafka(&config, 64)?;
/// sink.send(KafkaMessage::new("orders", "{\"id\": 1}")).await?; // the broker has it
/// # Ok(())
/// # }
/// ```
#[track_caller]
pub fn to_kafka(config: &ClientConfig, max_in_flight: usize) -> Result<KafkaSink, SinkError> {
    crate::ops::assert_nonzero(max_in_flight, "to_kafka", "max_in_flight");
    let producer: FutureProducer = config
        .create()
        .map_err(|e| connector("creating the producer", e))?;
    Ok(KafkaSink::new(producer, max_in_flight))
}

/// A [`futures::Sink`] of [`KafkaMessage`]s published through a [`FutureProducer`].
///
/// Each message is handed to librdkafka at once (it batches and sends from its own threads); at
/// most `max_in_flight` wait for their delivery report. [`poll_ready`](futures::Sink::poll_ready)
/// is ready below that and [`poll_flush`](futures::Sink::poll_flush) once every message is
/// delivered, so `sink.send(m).await` resolves when the partition's leader has `m` (with the
/// acknowledgements `acks` asks for). A message the brokers refuse, or that times out, is
/// returned as [`SinkError::Connector`] by the next `poll_ready` or `poll_flush`, as is a
/// message librdkafka cannot take (its queue is full, the message is too large) by
/// [`start_send`](futures::Sink::start_send). Messages of one partition are delivered in order
/// when the producer is idempotent (`enable.idempotence=true`) or keeps one request in flight.
///
/// Dropping the sink frees the producer on a thread of its own, since librdkafka waits there for
/// its threads.
///
/// ```no_run
/// use futures::SinkExt;
/// use rivulet::sinks::kafka::{ClientConfig, KafkaMessage, KafkaSink};
/// use rivulet::sinks::kafka::rdkafka::producer::FutureProducer;
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let producer: FutureProducer = ClientConfig::new()
///     .set("bootstrap.servers", "127.0.0.1:9092")
///     .set("enable.idempotence", "true")
///     .create()?;
/// let mut sink = KafkaSink::new(producer, 64);
/// let mut messages =
///     futures::stream::iter((0..100).map(|i| Ok(KafkaMessage::new("numbers", i.to_string()))));
/// sink.send_all(&mut messages).await?; // all 100 delivered
/// # Ok(())
/// # }
/// ```
pub struct KafkaSink {
    producer: Option<FutureProducer>,
    max_in_flight: usize,
    /// Messages handed to librdkafka, waiting for their delivery report, oldest first.
    in_flight: VecDeque<DeliveryFuture>,
}

impl KafkaSink {
    /// A publisher through `producer`, with at most `max_in_flight` undelivered messages.
    ///
    /// # Panics
    /// If `max_in_flight` is zero.
    ///
    /// ```no_run
    /// use rivulet::sinks::kafka::{ClientConfig, KafkaSink};
    /// # fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let producer = ClientConfig::new().set("bootstrap.servers", "127.0.0.1:9092").create()?;
    /// let sink = KafkaSink::new(producer, 16);
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn new(producer: FutureProducer, max_in_flight: usize) -> Self {
        crate::ops::assert_nonzero(max_in_flight, "KafkaSink::new", "max_in_flight");
        KafkaSink {
            producer: Some(producer),
            max_in_flight,
            in_flight: VecDeque::new(),
        }
    }

    /// How many messages wait for their delivery report.
    ///
    /// ```no_run
    /// # fn f(sink: rivulet::sinks::kafka::KafkaSink) {
    /// assert_eq!(sink.in_flight(), 0);
    /// # }
    /// ```
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Collects the delivery reports; ready once at most `limit` are outstanding.
    fn poll_until(&mut self, limit: usize, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        // Reports come in any order across partitions; take every one that is in.
        let mut i = 0;
        while i < self.in_flight.len() {
            match self.in_flight[i].poll_unpin(cx) {
                Poll::Ready(report) => {
                    let _ = self.in_flight.remove(i);
                    match report {
                        Ok(Ok(_)) => {}
                        Ok(Err((e, _message))) => {
                            return Poll::Ready(Err(connector("delivery", e)));
                        }
                        Err(_canceled) => {
                            return Poll::Ready(Err(connector(
                                "delivery",
                                "the producer dropped the delivery report",
                            )));
                        }
                    }
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

impl futures::Sink<KafkaMessage> for KafkaSink {
    type Error = SinkError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        let this = self.get_mut();
        let limit = this.max_in_flight - 1;
        this.poll_until(limit, cx)
    }

    fn start_send(self: Pin<&mut Self>, message: KafkaMessage) -> Result<(), SinkError> {
        let this = self.get_mut();
        let Some(producer) = this.producer.as_ref() else {
            return Err(SinkError::Closed);
        };
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&message.topic).payload(&message.payload[..]);
        if let Some(key) = message.key.as_deref() {
            record = record.key(key);
        }
        if let Some(partition) = message.partition {
            record = record.partition(partition);
        }
        // librdkafka copies the message; this does not wait.
        let report = producer
            .send_result(record)
            .map_err(|(e, _record)| connector("publishing", e))?;
        this.in_flight.push_back(report);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        self.get_mut().poll_until(0, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        self.get_mut().poll_until(0, cx)
    }
}

impl Drop for KafkaSink {
    fn drop(&mut self) {
        let Some(producer) = self.producer.take() else {
            return;
        };
        // Destroying a producer waits for librdkafka's threads: not on a runtime thread, nor on
        // a blocking one that a runtime shutting down would wait for.
        let closing = std::thread::Builder::new()
            .name("rivulet-kafka-close".to_owned())
            .spawn(move || drop(producer));
        if let Err(e) = closing {
            tracing::warn!(error = %e, "kafka: no thread to close the producer on");
        }
    }
}

impl fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSink")
            .field("max_in_flight", &self.max_in_flight)
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}
