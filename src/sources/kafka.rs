//! Messages of Kafka topics in a consumer group, committed when done (feature `kafka`, on
//! [`rdkafka`]).
//!
//! [`from_kafka_batched`] yields batches as streamz's `from_kafka_batched` does: the messages of
//! one partition that are at hand, in offset order, as one [`Acked<Vec<KafkaMessage>>`].
//! [`from_kafka`] yields the messages one by one, each an [`Acked<KafkaMessage>`]. Either source
//! commits a partition's offset to the group only when every item of that partition up to it is
//! done, in order, so a pipeline that crashes restarts from the last commit: at-least-once, and
//! the offsets it committed are those of streamz's checkpointing (vectors V80 and V81).

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, SelectAll};
use futures::{FutureExt, Stream, StreamExt};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};

pub use rdkafka;
pub use rdkafka::ClientConfig;

use super::{DEFAULT_MAX_RECORD_SIZE, SourceError};
use crate::ack::{Acked, Tracker};
use crate::util::lock;

/// How many messages a batch holds at most unless set: streamz's `max_batch_size`.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 10_000;

/// How long a dropped source still commits the items that finish after it, unless set.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many broker errors the source keeps that the stream has not reported yet.
const ERRORS_AHEAD: usize = 16;

/// One Kafka message: what [`from_kafka`] yields and [`sinks::kafka`](crate::sinks::kafka)
/// publishes.
///
/// A consumed message has its `partition` and `offset`. A message to publish usually has
/// neither: with no `partition` the producer's partitioner chooses one (by `key`, when there is
/// one), and `offset` is ignored.
///
/// ```
/// use rivulet::sources::kafka::KafkaMessage;
/// let message = KafkaMessage::new("orders", "{\"id\": 1}").key("customer-7");
/// assert_eq!(message.topic, "orders");
/// assert_eq!(message.key.as_deref(), Some(&b"customer-7"[..]));
/// assert_eq!(message.partition, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaMessage {
    /// The topic.
    pub topic: String,
    /// The partition it was read from, or the one to publish to.
    pub partition: Option<i32>,
    /// Its offset in the partition, for a consumed message.
    pub offset: Option<i64>,
    /// Its key.
    pub key: Option<Bytes>,
    /// Its payload (empty for a message without one).
    pub payload: Bytes,
}

impl KafkaMessage {
    /// A message for `topic`, without a key, its partition left to the producer.
    ///
    /// ```
    /// let message = rivulet::sources::kafka::KafkaMessage::new("t", vec![1_u8, 2]);
    /// assert_eq!(message.payload, vec![1_u8, 2]);
    /// ```
    pub fn new(topic: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        KafkaMessage {
            topic: topic.into(),
            partition: None,
            offset: None,
            key: None,
            payload: payload.into(),
        }
    }

    /// Sets the key.
    ///
    /// ```
    /// let message = rivulet::sources::kafka::KafkaMessage::new("t", "x").key("k");
    /// assert_eq!(message.key.unwrap(), "k");
    /// ```
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the partition to publish to.
    ///
    /// ```
    /// let message = rivulet::sources::kafka::KafkaMessage::new("t", "x").partition(3);
    /// assert_eq!(message.partition, Some(3));
    /// ```
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
}

/// Batches of the messages of `topics`, read in the consumer group `config` names, each an
/// [`Acked<Vec<KafkaMessage>>`] committed when done (streamz's `from_kafka_batched`).
///
/// `config` is an [`rdkafka`] client configuration (re-exported here) and must set
/// `bootstrap.servers` and `group.id`; the source sets `enable.auto.commit` to `false`, since it
/// commits itself. Where a partition starts without a committed offset is `auto.offset.reset`'s
/// choice (`latest` unless set, as in Kafka).
///
/// A batch is the messages of one partition that are at hand when the stream is polled, up to
/// [`max_batch_size`](KafkaBatched::max_batch_size), in offset order; the stream waits only for
/// the first. Messages of one partition keep their order across batches; batches of different
/// partitions interleave. When a batch is done, and every earlier batch of its partition too, the
/// offset after its last message is committed to the group (asynchronously, in the background,
/// on the runtime that polls the stream). After a rebalance takes a partition away, the items of
/// it that are still out commit nothing: whoever reads it next starts from the last commit.
///
/// A message whose payload is longer than [`max_record_size`](KafkaBatched::max_record_size) is
/// a [`SourceError::RecordTooLong`] item and counts as done. An error of the client or the
/// brokers (one that cannot be reached, a topic that does not exist) is a
/// [`SourceError::Connector`] item; librdkafka reconnects and the stream goes on. A configuration
/// that cannot make a consumer, or a subscription that fails, is the stream's one item.
///
/// The consumer starts at the first poll, which must run inside a tokio runtime, and reads ahead
/// within librdkafka's bounds (`queued.max.messages.kbytes`). Dropping the stream stops the
/// reading; items that finish within [`close_timeout`](KafkaBatched::close_timeout) after are
/// still committed, then the consumer leaves the group (on a thread of its own, since that waits
/// for the brokers; as long as they do not answer, when they are gone).
///
/// ```no_run
/// use rivulet::prelude::*;
/// use rivulet::sources::kafka::{ClientConfig, from_kafka_batched};
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = ClientConfig::new();
/// config
///     .set("bootstrap.servers", "127.0.0.1:9092")
///     .set("group.id", "pipeline")
///     .set("auto.offset.reset", "earliest");
/// let mut batches = from_kafka_batched(["orders"], config).max_batch_size(100);
/// while let Some(batch) = batches.next().await {
///     let batch = batch?;
///     println!("{} messages", batch.len());
///     // dropped here: done, so its offsets are committed
/// }
/// # Ok(())
/// # }
/// ```
pub fn from_kafka_batched<T: Into<String>>(
    topics: impl IntoIterator<Item = T>,
    config: ClientConfig,
) -> KafkaBatched {
    KafkaBatched {
        settings: Settings {
            topics: topics.into_iter().map(Into::into).collect(),
            config,
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            max_record_size: DEFAULT_MAX_RECORD_SIZE,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
        },
        running: None,
    }
}

/// The messages of `topics`, read in the consumer group `config` names, one by one, each an
/// [`Acked<KafkaMessage>`] committed when done.
///
/// This is [`from_kafka_batched`] with batches of one message; everything said there holds.
///
/// ```no_run
/// use rivulet::prelude::*;
/// use rivulet::sources::kafka::{ClientConfig, from_kafka};
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = ClientConfig::new();
/// config.set("bootstrap.servers", "127.0.0.1:9092").set("group.id", "pipeline");
/// let mut orders = from_kafka(["orders"], config);
/// while let Some(order) = orders.next().await {
///     println!("{:?}", order?.payload); // done when dropped: committed
/// }
/// # Ok(())
/// # }
/// ```
pub fn from_kafka<T: Into<String>>(
    topics: impl IntoIterator<Item = T>,
    config: ClientConfig,
) -> KafkaSource {
    let mut batched = from_kafka_batched(topics, config);
    batched.settings.max_batch_size = 1;
    KafkaSource { batched }
}

/// Stream of [`from_kafka_batched`], and its builder.
#[must_use = "streams do nothing unless polled"]
pub struct KafkaBatched {
    settings: Settings,
    running: Option<BoxStream<'static, Result<Acked<Vec<KafkaMessage>>, SourceError>>>,
}

#[derive(Clone)]
struct Settings {
    topics: Vec<String>,
    config: ClientConfig,
    max_batch_size: usize,
    max_record_size: usize,
    close_timeout: Duration,
}

impl KafkaBatched {
    /// At most `n` messages a batch (default [`DEFAULT_MAX_BATCH_SIZE`]).
    ///
    /// # Panics
    /// If `n` is zero.
    ///
    /// ```
    /// use rivulet::sources::kafka::{ClientConfig, from_kafka_batched};
    /// let batches = from_kafka_batched(["t"], ClientConfig::new()).max_batch_size(100);
    /// # drop(batches);
    /// ```
    #[track_caller]
    pub fn max_batch_size(mut self, n: usize) -> Self {
        crate::ops::assert_nonzero(n, "from_kafka_batched", "max_batch_size");
        self.settings.max_batch_size = n;
        self
    }

    /// The longest payload kept, in bytes (default [`DEFAULT_MAX_RECORD_SIZE`], 1 MiB); a longer
    /// one is a [`SourceError::RecordTooLong`] item.
    ///
    /// # Panics
    /// If `bytes` is zero.
    ///
    /// ```
    /// use rivulet::sources::kafka::{ClientConfig, from_kafka_batched};
    /// let batches = from_kafka_batched(["t"], ClientConfig::new()).max_record_size(64 * 1024);
    /// # drop(batches);
    /// ```
    #[track_caller]
    pub fn max_record_size(mut self, bytes: usize) -> Self {
        crate::ops::assert_nonzero(bytes, "from_kafka_batched", "max_record_size");
        self.settings.max_record_size = bytes;
        self
    }

    /// How long, after the stream is dropped, the items still out may finish and be committed
    /// before the consumer leaves the group (default [`DEFAULT_CLOSE_TIMEOUT`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use rivulet::sources::kafka::{ClientConfig, from_kafka_batched};
    /// let batches =
    ///     from_kafka_batched(["t"], ClientConfig::new()).close_timeout(Duration::from_secs(1));
    /// # drop(batches);
    /// ```
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.settings.close_timeout = timeout;
        self
    }
}

impl Stream for KafkaBatched {
    type Item = Result<Acked<Vec<KafkaMessage>>, SourceError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let settings = &this.settings;
        let running = this
            .running
            .get_or_insert_with(|| match Running::start(settings.clone()) {
                Ok(running) => Box::pin(futures::stream::unfold(running, |mut r| async move {
                    let item = r.next().await;
                    Some((item, r))
                })),
                Err(e) => Box::pin(futures::stream::iter([Err(e)])),
            });
        running.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for KafkaBatched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaBatched")
            .field("topics", &self.settings.topics)
            .field("max_batch_size", &self.settings.max_batch_size)
            .field("max_record_size", &self.settings.max_record_size)
            .field("started", &self.running.is_some())
            .finish_non_exhaustive()
    }
}

/// Stream of [`from_kafka`], and its builder.
#[must_use = "streams do nothing unless polled"]
pub struct KafkaSource {
    batched: KafkaBatched,
}

impl KafkaSource {
    /// The longest payload kept, as [`KafkaBatched::max_record_size`].
    ///
    /// ```
    /// use rivulet::sources::kafka::{ClientConfig, from_kafka};
    /// let messages = from_kafka(["t"], ClientConfig::new()).max_record_size(1024);
    /// # drop(messages);
    /// ```
    #[track_caller]
    pub fn max_record_size(mut self, bytes: usize) -> Self {
        self.batched = self.batched.max_record_size(bytes);
        self
    }

    /// How long a dropped source still commits, as [`KafkaBatched::close_timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use rivulet::sources::kafka::{ClientConfig, from_kafka};
    /// let messages = from_kafka(["t"], ClientConfig::new()).close_timeout(Duration::ZERO);
    /// # drop(messages);
    /// ```
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.batched = self.batched.close_timeout(timeout);
        self
    }
}

impl Stream for KafkaSource {
    type Item = Result<Acked<KafkaMessage>, SourceError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let batch = futures::ready!(Pin::new(&mut self.batched).poll_next(cx));
            let Some(batch) = batch else {
                return Poll::Ready(None);
            };
            let (mut messages, ack) = match batch {
                Ok(batch) => batch.into_parts(),
                Err(e) => return Poll::Ready(Some(Err(e))),
            };
            // Batches hold one message here; an empty one would be done at once.
            if let Some(message) = messages.pop() {
                return Poll::Ready(Some(Ok(Acked::new(message, ack))));
            }
        }
    }
}

impl fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSource")
            .field("topics", &self.batched.settings.topics)
            .field("max_record_size", &self.batched.settings.max_record_size)
            .field("started", &self.batched.running.is_some())
            .finish_non_exhaustive()
    }
}

fn connector(what: &str, e: impl fmt::Display) -> SourceError {
    SourceError::Connector {
        what: format!("kafka: {what}"),
        message: e.to_string(),
    }
}

type PartitionKey = (String, i32);

/// What the consumer's callbacks share with the source.
struct Shared {
    /// Bumped each time a partition is revoked: the trackers of an older generation are stale.
    generations: Mutex<HashMap<PartitionKey, u64>>,
    errors: mpsc::Sender<String>,
}

impl Shared {
    fn generation(&self, key: &PartitionKey) -> u64 {
        lock(&self.generations).get(key).copied().unwrap_or(0)
    }
}

/// The consumer's context: reports client errors to the stream and marks revoked partitions.
struct Callbacks {
    shared: Arc<Shared>,
}

impl ClientContext for Callbacks {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka: client error");
        // A full queue already has errors to report; the stream needs no more of them.
        let _ = self.shared.errors.try_send(format!("{error}: {reason}"));
    }
}

impl ConsumerContext for Callbacks {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            let mut generations = lock(&self.shared.generations);
            for p in partitions.elements() {
                *generations
                    .entry((p.topic().to_owned(), p.partition()))
                    .or_default() += 1;
            }
        }
    }
}

type KafkaConsumer = StreamConsumer<Callbacks>;

/// The consumer, closed on a thread of its own once the last holder lets it go: closing leaves
/// the group and waits for the brokers (as long as they do not answer), which no runtime thread
/// may do, nor a runtime that shuts down wait for.
struct Closing(Option<KafkaConsumer>);

impl std::ops::Deref for Closing {
    type Target = KafkaConsumer;

    fn deref(&self) -> &KafkaConsumer {
        // Only `drop` takes it.
        self.0
            .as_ref()
            .expect("the consumer is there until dropped")
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        if let Some(consumer) = self.0.take() {
            let closing = std::thread::Builder::new()
                .name("rivulet-kafka-close".to_owned())
                .spawn(move || drop(consumer));
            if let Err(e) = closing {
                tracing::warn!(error = %e, "kafka: no thread to close the consumer on");
            }
        }
    }
}

/// A partition's tracker for the commit task: commit `watch`'s offsets while `generation` holds.
struct Registration {
    key: PartitionKey,
    generation: u64,
    commits: watch::Receiver<Option<i64>>,
}

/// What the consumer gave.
enum Fetched {
    Message(KafkaMessage),
    TooLong(PartitionKey, i64),
    Failed(SourceError),
}

struct Running {
    consumer: Arc<Closing>,
    shared: Arc<Shared>,
    errors: mpsc::Receiver<String>,
    /// A message read for a batch it did not belong to: the next batch starts with it.
    carried: Option<Fetched>,
    /// Each partition's tracker and the generation it belongs to.
    trackers: HashMap<PartitionKey, (u64, Tracker<i64>)>,
    registrations: mpsc::UnboundedSender<Registration>,
    max_batch_size: usize,
    max_record_size: usize,
}

impl Running {
    fn start(settings: Settings) -> Result<Self, SourceError> {
        let mut config = settings.config;
        if config.get("group.id").is_none() {
            return Err(connector(
                "configuration",
                "`group.id` must be set: the source commits to a consumer group",
            ));
        }
        config.set("enable.auto.commit", "false");
        let (errors_tx, errors) = mpsc::channel(ERRORS_AHEAD);
        let shared = Arc::new(Shared {
            generations: Mutex::default(),
            errors: errors_tx,
        });
        let consumer: KafkaConsumer = config
            .create_with_context(Callbacks {
                shared: Arc::clone(&shared),
            })
            .map_err(|e| connector("creating the consumer", e))?;
        let consumer = Arc::new(Closing(Some(consumer)));
        let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| connector("subscribing", e))?;
        let (registrations, registered) = mpsc::unbounded_channel();
        tokio::spawn(commit_loop(
            Arc::clone(&consumer),
            registered,
            Arc::clone(&shared),
            settings.close_timeout,
        ));
        Ok(Running {
            consumer,
            shared,
            errors,
            carried: None,
            trackers: HashMap::new(),
            registrations,
            max_batch_size: settings.max_batch_size,
            max_record_size: settings.max_record_size,
        })
    }

    fn fetched(&self, message: Result<BorrowedMessage<'_>, KafkaError>) -> Fetched {
        let message = match message {
            Ok(message) => message,
            Err(e) => return Fetched::Failed(connector("receiving", e)),
        };
        let payload = message.payload().unwrap_or_default();
        if payload.len() > self.max_record_size {
            let key = (message.topic().to_owned(), message.partition());
            return Fetched::TooLong(key, message.offset());
        }
        Fetched::Message(KafkaMessage {
            topic: message.topic().to_owned(),
            partition: Some(message.partition()),
            offset: Some(message.offset()),
            key: message.key().map(Bytes::copy_from_slice),
            payload: Bytes::copy_from_slice(payload),
        })
    }

    /// The next thing the consumer gives, waiting for it; a client error first.
    async fn fetch(&mut self) -> Fetched {
        if let Some(fetched) = self.carried.take() {
            return fetched;
        }
        let consumer = Arc::clone(&self.consumer);
        tokio::select! {
            biased;
            error = self.errors.recv() => match error {
                Some(message) => Fetched::Failed(SourceError::Connector {
                    what: "kafka: client".to_owned(),
                    message,
                }),
                // The context lives as long as the consumer, which this holds.
                None => Fetched::Failed(connector("client", "the client is gone")),
            },
            message = consumer.recv() => self.fetched(message),
        }
    }

    /// The ack's tracker for `key`'s partition, a fresh one after a rebalance.
    fn tracker(&mut self, key: &PartitionKey) -> Tracker<i64> {
        let generation = self.shared.generation(key);
        match self.trackers.get(key) {
            Some((g, tracker)) if *g == generation => return tracker.clone(),
            _ => {}
        }
        let tracker = Tracker::new();
        let _ = self.registrations.send(Registration {
            key: key.clone(),
            generation,
            commits: tracker.watch(),
        });
        self.trackers
            .insert(key.clone(), (generation, tracker.clone()));
        tracker
    }

    async fn next(&mut self) -> Result<Acked<Vec<KafkaMessage>>, SourceError> {
        let first = match self.fetch().await {
            Fetched::Message(message) => message,
            Fetched::TooLong(key, offset) => {
                drop(self.tracker(&key).track(offset + 1)); // skipped, so done at once
                return Err(SourceError::RecordTooLong {
                    max: self.max_record_size,
                });
            }
            Fetched::Failed(e) => return Err(e),
        };
        let key = (first.topic.clone(), first.partition.unwrap_or_default());
        let mut next_offset = first.offset.unwrap_or_default() + 1;
        let mut batch = vec![first];
        while batch.len() < self.max_batch_size {
            let consumer = Arc::clone(&self.consumer);
            let Some(message) = consumer.recv().now_or_never() else {
                break; // nothing more at hand
            };
            match self.fetched(message) {
                Fetched::Message(m) if m.partition == Some(key.1) && m.topic == key.0 => {
                    next_offset = m.offset.unwrap_or_default() + 1;
                    batch.push(m);
                }
                other => {
                    self.carried = Some(other);
                    break;
                }
            }
        }
        let ack = self.tracker(&key).track(next_offset);
        Ok(Acked::new(batch, ack))
    }
}

/// Commits each partition's offsets as its tracker moves, while the partition is still ours.
/// When the source is gone, goes on for `close_timeout`, then lets the consumer go.
async fn commit_loop(
    consumer: Arc<Closing>,
    mut registered: mpsc::UnboundedReceiver<Registration>,
    shared: Arc<Shared>,
    close_timeout: Duration,
) {
    let mut commits = SelectAll::new();
    let commit = |(key, generation, offset): (PartitionKey, u64, i64)| {
        if shared.generation(&key) != generation {
            return; // revoked since: whoever has it now starts from the last commit
        }
        let mut offsets = TopicPartitionList::new();
        if let Err(e) = offsets.add_partition_offset(&key.0, key.1, Offset::Offset(offset)) {
            tracing::warn!(error = %e, "kafka: could not commit an offset");
            return;
        }
        // Asynchronous: librdkafka sends it from its own threads; this does not block.
        if let Err(e) = consumer.commit(&offsets, CommitMode::Async) {
            tracing::warn!(error = %e, topic = key.0, partition = key.1, offset,
                "kafka: could not commit an offset");
        }
    };
    loop {
        tokio::select! {
            registration = registered.recv() => match registration {
                Some(r) => commits.push(positions(r)),
                None => break,
            },
            Some(position) = commits.next(), if !commits.is_empty() => commit(position),
        }
    }
    // The stream is gone: items still out may finish for a while.
    let _ = tokio::time::timeout(close_timeout, async {
        while let Some(position) = commits.next().await {
            commit(position);
        }
    })
    .await;
    drop(commits);
    drop(consumer); // the last holder closes it, on a thread of its own
}

/// The committed positions of a registration's tracker, as they move, until it is gone.
fn positions(r: Registration) -> BoxStream<'static, (PartitionKey, u64, i64)> {
    futures::stream::unfold(r, |mut r| async move {
        loop {
            r.commits.changed().await.ok()?;
            let position = *r.commits.borrow_and_update();
            if let Some(offset) = position {
                return Some(((r.key.clone(), r.generation, offset), r));
            }
        }
    })
    .boxed()
}
