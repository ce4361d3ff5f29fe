//! The WebSocket connector over loopback: the server source with the client sink, and the client
//! source against a tungstenite server.
#![cfg(feature = "websocket")]

mod support;

use std::time::Duration;

use futures::{SinkExt, Stream, StreamExt};
use rivulet::sinks::websocket::WebSocketSink;
use rivulet::sources::SourceError;
use rivulet::sources::websocket::{Message, from_websocket, websocket_server};

use support::within;

async fn next<S: Stream + Unpin>(s: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("no message within 10 s")
        .expect("the stream ended")
}

#[tokio::test]
async fn the_server_yields_messages_of_every_client() {
    within(async {
        let mut messages = websocket_server("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/", messages.local_addr());
        let mut a = WebSocketSink::connect(&url).await.unwrap();
        a.send(Message::text("a1")).await.unwrap();
        assert_eq!(next(&mut messages).await.unwrap(), "a1");
        let mut b = WebSocketSink::connect(&url).await.unwrap();
        b.send(Message::binary(vec![1_u8, 2])).await.unwrap();
        assert_eq!(next(&mut messages).await.unwrap(), vec![1_u8, 2]);
        a.send(Message::text("a2")).await.unwrap();
        assert_eq!(next(&mut messages).await.unwrap(), "a2");
        a.close().await.unwrap();
        b.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn an_oversized_message_is_a_typed_error_and_closes_that_client() {
    within(async {
        let mut messages = websocket_server("127.0.0.1:0")
            .await
            .unwrap()
            .max_message_size(100);
        let url = format!("ws://{}/", messages.local_addr());
        let mut big = WebSocketSink::connect(&url).await.unwrap();
        big.send(Message::binary(vec![0_u8; 1000])).await.unwrap();
        assert!(matches!(
            next(&mut messages).await,
            Err(SourceError::Connector { .. })
        ));
        let mut small = WebSocketSink::connect(&url).await.unwrap();
        small.send(Message::text("ok")).await.unwrap();
        assert_eq!(next(&mut messages).await.unwrap(), "ok");
    })
    .await;
}

#[tokio::test]
async fn the_client_source_reads_until_the_server_closes() {
    within(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(socket).await.unwrap();
            for i in 0..3 {
                ws.send(Message::text(format!("tick {i}"))).await.unwrap();
            }
            ws.close(None).await.unwrap();
        });
        let ticks = from_websocket(format!("ws://{addr}/ticks"));
        let got: Vec<_> = tokio::time::timeout(Duration::from_secs(10), ticks.collect::<Vec<_>>())
            .await
            .unwrap();
        let got: Vec<bytes::Bytes> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(got, vec!["tick 0", "tick 1", "tick 2"]);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_refused_connection_is_the_only_item() {
    within(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let items: Vec<_> = from_websocket(format!("ws://{addr}/")).collect().await;
        assert!(
            matches!(items[..], [Err(SourceError::Connector { .. })]),
            "{items:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn the_broadcast_sink_sends_every_message_to_every_client_and_drops_those_that_leave() {
    use rivulet::sinks::websocket::websocket_broadcast;
    within(async {
        let mut sink = websocket_broadcast("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/", sink.local_addr());
        // With nobody connected, a message goes to nobody and the sink is not stuck.
        sink.send(Message::text("to nobody")).await.unwrap();
        let (mut a, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        let (mut b, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        sink.wait_for_clients(2).await;
        assert_eq!(sink.connected().await, 2);
        for i in 0..3 {
            sink.send(Message::text(format!("m{i}"))).await.unwrap();
        }
        for client in [&mut a, &mut b] {
            for i in 0..3 {
                assert_eq!(next(client).await.unwrap(), Message::text(format!("m{i}")));
            }
        }
        // One client goes: the sink goes on for the other, which gets every later message.
        drop(a);
        for i in 3..40 {
            sink.send(Message::text(format!("m{i}"))).await.unwrap();
        }
        for i in 3..40 {
            assert_eq!(next(&mut b).await.unwrap(), Message::text(format!("m{i}")));
        }
        assert_eq!(sink.connected().await, 1, "the client that left is dropped");
        sink.close().await.unwrap();
    })
    .await;
}
