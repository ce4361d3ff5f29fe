//! The NATS JetStream connector against a real server (`nats-server -js` on 127.0.0.1:4222, see
//! `.ci/brokers`): publishing with the stream's acknowledgement as readiness, and at-least-once
//! delivery across a crash of the pipeline.
#![cfg(feature = "nats")]

mod support;

use std::time::Duration;

use futures::{SinkExt, Stream, StreamExt};
use rivulet::sinks::nats::JetStreamSink;
use rivulet::sources::nats::async_nats::jetstream::{self, consumer};
use rivulet::sources::nats::{NatsMessage, PullConsumer, async_nats, from_jetstream};
use support::brokers::{reachable, unique};

use support::within;

const SERVER: &str = "127.0.0.1:4222";

async fn next<S: Stream + Unpin>(s: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(20), s.next())
        .await
        .expect("no message within 20 s")
        .expect("the stream ended")
}

/// A fresh JetStream stream on `subject.>` and a durable pull consumer of it.
async fn setup(ack_wait: Duration) -> (jetstream::Context, String, String, PullConsumer) {
    let client = async_nats::connect(SERVER).await.unwrap();
    let context = jetstream::new(client);
    let name = unique("RIVULET");
    let subject = format!("rivulet.test.{}", name.to_lowercase().replace('-', "_"));
    let stream = context
        .create_stream(jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![format!("{subject}.>")],
            ..Default::default()
        })
        .await
        .unwrap();
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("pipeline".into()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait,
            ..Default::default()
        })
        .await
        .unwrap();
    (context, name, subject, consumer)
}

#[tokio::test]
async fn published_messages_are_stored_and_read_in_order() {
    within(async {
        if !reachable("NATS", SERVER).await {
            return;
        }
        let (context, name, subject, consumer) = setup(Duration::from_secs(30)).await;
        let mut sink = JetStreamSink::new(context.clone(), 4);
        let messages =
            (0..20).map(|i| Ok(NatsMessage::new(format!("{subject}.a"), format!("m{i}"))));
        sink.send_all(&mut futures::stream::iter(messages))
            .await
            .unwrap();
        sink.close().await.unwrap();
        // Every send resolved, so the stream has all 20.
        let info = context
            .get_stream(&name)
            .await
            .unwrap()
            .get_info()
            .await
            .unwrap();
        assert_eq!(info.state.messages, 20);

        let mut source = from_jetstream(consumer);
        for i in 0..20 {
            let m = next(&mut source).await.unwrap();
            assert_eq!(m.subject, format!("{subject}.a"));
            assert_eq!(m.payload, format!("m{i}"));
        }
        context.delete_stream(&name).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_message_to_no_stream_is_a_typed_error() {
    within(async {
        if !reachable("NATS", SERVER).await {
            return;
        }
        let client = async_nats::connect(SERVER).await.unwrap();
        let mut sink = JetStreamSink::new(jetstream::new(client), 4);
        let sent = tokio::time::timeout(
            Duration::from_secs(30),
            sink.send(NatsMessage::new(unique("rivulet.nowhere"), "x")),
        )
        .await
        .expect("the publish did not end");
        assert!(
            matches!(sent, Err(rivulet::sinks::SinkError::Connector { .. })),
            "{sent:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_crashed_pipeline_gets_its_unfinished_messages_again() {
    within(async {
        if !reachable("NATS", SERVER).await {
            return;
        }
        let (context, name, subject, consumer) = setup(Duration::from_secs(1)).await;
        let mut sink = JetStreamSink::new(context.clone(), 8);
        for i in 0..10 {
            sink.send(NatsMessage::new(format!("{subject}.a"), format!("{i}")))
                .await
                .unwrap();
        }
        let mut source = from_jetstream(consumer.clone());
        let mut held = Vec::new();
        for i in 0..10 {
            let m = next(&mut source).await.unwrap();
            assert_eq!(m.payload, format!("{i}"));
            if i < 5 {
                drop(m); // done: acknowledged in the background
            } else {
                held.push(m);
            }
        }
        // Wait (bounded) until the server has the five acknowledgements.
        let mut pending = usize::MAX;
        for _ in 0..100 {
            pending = consumer.get_info().await.unwrap().num_ack_pending;
            if pending == 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(pending, 5, "five messages are taken and not done");
        drop(source); // the crash
        std::mem::forget(held); // their acknowledgements never run

        let mut again = from_jetstream(consumer);
        let mut replayed = Vec::new();
        while replayed.len() < 5 {
            let m = next(&mut again).await.unwrap();
            replayed.push(String::from_utf8_lossy(&m.payload).into_owned());
        }
        replayed.sort();
        assert_eq!(
            replayed,
            ["5", "6", "7", "8", "9"],
            "exactly the unfinished ones"
        );
        drop(again);
        context.delete_stream(&name).await.unwrap();
    })
    .await;
}
