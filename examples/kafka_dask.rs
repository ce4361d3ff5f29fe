//! streamz's `from_kafka_batched(..., dask=True)`: a topic → scatter → map → buffered → gather →
//! a topic, with the input committed only once its result is in the output topic.
//!
//! ```text
//! bash .ci/brokers        # a Kafka-protocol broker (tansu) on 127.0.0.1:9092
//! cargo run --example kafka_dask --features kafka
//! cargo run --example kafka_dask --features kafka -- --broker 127.0.0.1:9092 --lines 500
//! ```
//!
//! It makes two fresh topics, publishes `--lines` lines of text to the first, and runs the
//! pipeline: batches of the input topic (`from_kafka_batched`, at most 16 lines each) go to two
//! in-process workers, where `count_words` counts their words, eight batches at a time, come
//! back in order and are published to the second topic. A batch's acknowledgement stays on the
//! client meanwhile, and is dropped when the broker has the batch's result, so the consumer group
//! commits the input only up to what is in the output: killed and run again on the same topics,
//! it would go on from there. It ends once every line is counted, printing the group's commit.

use std::time::Duration;

use futures::SinkExt;
use rivulet::prelude::*;
use rivulet::sinks::kafka::to_kafka;
use rivulet::sources::kafka::rdkafka::admin::{
    AdminClient, AdminOptions, NewTopic, TopicReplication,
};
use rivulet::sources::kafka::rdkafka::client::DefaultClientContext;
use rivulet::sources::kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use rivulet::sources::kafka::rdkafka::{Offset, TopicPartitionList};
use rivulet::sources::kafka::{ClientConfig, KafkaMessage, from_kafka_batched};

/// The work: how many lines and words a batch has.
#[rivulet::remote]
fn count_words(lines: Vec<String>) -> (usize, usize) {
    let words = lines.iter().map(|l| l.split_whitespace().count()).sum();
    (lines.len(), words)
}

struct Args {
    broker: String,
    lines: usize,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        broker: "127.0.0.1:9092".to_owned(),
        lines: 200,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let value = given.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--broker" => args.broker = value,
            "--lines" => args.lines = value.parse().map_err(|e| format!("--lines: {e}"))?,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: kafka_dask [--broker HOST:PORT] [--lines N]"
                ));
            }
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    rivulet::worker::run_if_worker();
    let args = args()?;
    let run = std::process::id();
    let (input, output, group) = (
        format!("rivulet-dask-in-{run}"),
        format!("rivulet-dask-out-{run}"),
        format!("rivulet-dask-{run}"),
    );
    let mut producer = ClientConfig::new();
    producer
        .set("bootstrap.servers", &args.broker)
        .set("message.timeout.ms", "30000");

    // Two topics of one partition, and the input's lines.
    let admin: AdminClient<DefaultClientContext> = producer.create()?;
    let topics = [&input, &output].map(|t| NewTopic::new(t, 1, TopicReplication::Fixed(1)));
    for created in admin.create_topics(&topics, &AdminOptions::new()).await? {
        created.map_err(|(topic, e)| format!("creating {topic}: {e}"))?;
    }
    tokio::task::spawn_blocking(move || drop(admin)).await?;
    let mut sink = to_kafka(&producer, 64)?;
    let lines = (0..args.lines).map(|i| {
        let words = ["the", "quick", "brown", "fox"][..1 + i % 4].join(" ");
        Ok(KafkaMessage::new(&input, format!("line {i}: {words}")))
    });
    sink.send_all(&mut futures::stream::iter(lines)).await?;
    println!("published {} lines to {input}", args.lines);

    // The pipeline. Each batch's ack stays here with the batch while its words are counted on
    // a worker, and comes back with the result (`gather_acked`).
    let client = rivulet::Client::local(2).await?;
    let mut consumer = ClientConfig::new();
    consumer
        .set("bootstrap.servers", &args.broker)
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest");
    let mut results = from_kafka_batched([&input], consumer)
        .max_batch_size(16)
        .filter_map(|batch| async move {
            batch
                .map_err(|e| eprintln!("kafka_dask: skipped: {e}"))
                .ok()
        })
        .map(|batch| {
            batch.map(|messages| {
                messages
                    .iter()
                    .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
                    .collect::<Vec<String>>()
            })
        })
        .scatter(&client)
        .map(count_words)
        .buffered(8)
        .gather_acked();

    let mut out = to_kafka(&producer, 64)?;
    let (mut counted, mut words, mut batches) = (0, 0, 0);
    while counted < args.lines {
        let Some(counted_batch) =
            tokio::time::timeout(Duration::from_secs(60), results.next()).await?
        else {
            return Err("the pipeline ended".into());
        };
        let (result, ack) = counted_batch.into_parts();
        let (n, w) = result?;
        // Resolves when the broker has the result; only then is the input batch done.
        out.send(KafkaMessage::new(&output, format!("{n} lines, {w} words")))
            .await?;
        drop(ack);
        (counted, words, batches) = (counted + n, words + w, batches + 1);
    }
    println!("{batches} batches, {counted} lines, {words} words, results in {output}");

    // The group's commit follows the acks: once the last one is dropped, it reaches the end.
    let (topic, reading) = (input.clone(), group.clone());
    let commit = tokio::task::spawn_blocking(move || -> Result<Option<i64>, String> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &args.broker)
            .set("group.id", &reading);
        let reader: BaseConsumer = config.create().map_err(|e| e.to_string())?;
        for _ in 0..50 {
            let mut list = TopicPartitionList::new();
            list.add_partition(&topic, 0);
            let offsets = reader
                .committed_offsets(list, Duration::from_secs(5))
                .map_err(|e| e.to_string())?;
            if let Some(Offset::Offset(o)) = offsets.find_partition(&topic, 0).map(|e| e.offset()) {
                if usize::try_from(o).is_ok_and(|o| o == args.lines) {
                    return Ok(Some(o));
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(None)
    })
    .await??;
    match commit {
        Some(offset) => println!("group {group} committed offset {offset} of {input}"),
        None => return Err(format!("group {group} never committed the end of {input}").into()),
    }
    Ok(())
}
