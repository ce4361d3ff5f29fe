//! The MQTT connector against a real broker (mosquitto on 127.0.0.1:1883, see `.ci/brokers`):
//! publishing with the broker's acknowledgement as readiness, and at-least-once delivery across
//! a crash of the pipeline.
#![cfg(feature = "mqtt")]

mod support;

use std::time::Duration;

use futures::{SinkExt, Stream, StreamExt};
use rivulet::sinks::mqtt::MqttSink;
use rivulet::sources::mqtt::{MqttMessage, MqttOptions, QoS, from_mqtt};
use support::brokers::{reachable, unique};

use support::within;

const BROKER: &str = "127.0.0.1:1883";

fn options(id: &str, persistent: bool) -> MqttOptions {
    let mut options = MqttOptions::new(id, "127.0.0.1", 1883);
    options.set_clean_session(!persistent);
    options.set_keep_alive(Duration::from_secs(5));
    options
}

async fn next<S: Stream + Unpin>(s: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(20), s.next())
        .await
        .expect("no message within 20 s")
        .expect("the stream ended")
}

/// Publishes warm-up messages until `source` gets one, so its subscription is in place.
async fn subscribed<S>(source: &mut S, sink: &mut MqttSink, topic: &str)
where
    S: Stream<Item = Result<rivulet::Acked<MqttMessage>, rivulet::sources::SourceError>> + Unpin,
{
    for _ in 0..100 {
        sink.send(MqttMessage::new(topic, "warm-up")).await.unwrap();
        if let Ok(Some(Ok(m))) =
            tokio::time::timeout(Duration::from_millis(200), source.next()).await
        {
            assert_eq!(m.payload, "warm-up");
            // Drain any other warm-up copies.
            while let Ok(Some(Ok(_))) =
                tokio::time::timeout(Duration::from_millis(200), source.next()).await
            {}
            return;
        }
    }
    panic!("the source never got a message on {topic}");
}

#[tokio::test]
async fn published_messages_arrive_in_order() {
    within(async {
        if !reachable("MQTT", BROKER).await {
            return;
        }
        let topic = unique("rivulet/test/order");
        let mut sink = MqttSink::new(options(&unique("writer"), false), 4);
        let mut source = from_mqtt(options(&unique("reader"), false), &topic, QoS::AtLeastOnce);
        subscribed(&mut source, &mut sink, &topic).await;

        let messages = (0..20).map(|i| Ok(MqttMessage::new(&topic, format!("m{i}"))));
        sink.send_all(&mut futures::stream::iter(messages))
            .await
            .unwrap();
        sink.close().await.unwrap();
        for i in 0..20 {
            let m = next(&mut source).await.unwrap();
            assert_eq!(m.topic, topic);
            assert_eq!(m.payload, format!("m{i}"));
        }
    })
    .await;
}

#[tokio::test]
async fn a_crashed_pipeline_gets_its_unfinished_messages_again() {
    within(async {
        if !reachable("MQTT", BROKER).await {
            return;
        }
        let topic = unique("rivulet/test/replay");
        let reader = unique("reader");
        let mut sink = MqttSink::new(options(&unique("writer"), false), 8);
        let mut source = from_mqtt(options(&reader, true), &topic, QoS::AtLeastOnce);
        subscribed(&mut source, &mut sink, &topic).await;

        for i in 0..10 {
            sink.send(MqttMessage::new(&topic, format!("{i}")))
                .await
                .unwrap();
        }
        let mut held = Vec::new();
        for i in 0..10 {
            let m = next(&mut source).await.unwrap();
            assert_eq!(m.payload, format!("{i}"));
            if i < 5 {
                drop(m); // done: acknowledged
            } else {
                held.push(m); // taken, never finished
            }
        }
        // Let the acknowledgements of 0..5 go out, then crash: the connection drops, 5..10 unfinished.
        tokio::time::sleep(Duration::from_millis(500)).await;
        drop(source);
        std::mem::forget(held); // a crash never runs their acknowledgements

        let mut again = from_mqtt(options(&reader, true), &topic, QoS::AtLeastOnce);
        let mut replayed = Vec::new();
        while replayed.len() < 5 {
            let m = next(&mut again).await.unwrap();
            replayed.push(String::from_utf8_lossy(&m.payload).into_owned());
        }
        assert_eq!(
            replayed,
            ["5", "6", "7", "8", "9"],
            "exactly the unfinished ones, in order"
        );
        sink.close().await.unwrap();
    })
    .await;
}
