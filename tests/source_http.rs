//! `from_http_server`: each POST body is an item; the answer waits until it is taken (V137).
#![cfg(feature = "http")]

use std::net::SocketAddr;
use std::time::Duration;

use futures::{Stream, StreamExt};
use rivulet::sources::from_http_server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn next<S: Stream + Unpin>(s: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("no item within 10 s")
        .expect("the stream ended")
}

/// One request on its own connection; the whole answer (status line, headers, body).
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<String> {
    tokio::time::timeout(
        Duration::from_secs(30),
        request_once(addr, method, path, body),
    )
    .await
    .expect("no answer within 30 s")
}

async fn request_once(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<String> {
    let mut conn = TcpStream::connect(addr).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(body).await?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await?;
    Ok(answer)
}

fn status(answer: &str) -> &str {
    answer.split(' ').nth(1).unwrap_or("")
}

#[tokio::test]
async fn post_bodies_are_items_and_the_answer_waits_until_taken() {
    let mut bodies = from_http_server("127.0.0.1:0").await.unwrap();
    let addr = bodies.local_addr();
    let first = tokio::spawn(request(addr, "POST", "/", b"data"));
    assert_eq!(next(&mut bodies).await.unwrap(), "data");
    assert_eq!(status(&first.await.unwrap().unwrap()), "200");

    let second = tokio::spawn(request(addr, "POST", "/other", b"data2"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !second.is_finished(),
        "answered before the pipeline took the body"
    );
    assert_eq!(next(&mut bodies).await.unwrap(), "data2");
    assert_eq!(status(&second.await.unwrap().unwrap()), "200");
}

#[tokio::test]
async fn waiting_requests_get_503_when_the_pipeline_is_shut_then_connections_are_refused() {
    let mut bodies = from_http_server("127.0.0.1:0").await.unwrap();
    let addr = bodies.local_addr();
    let first = tokio::spawn(request(addr, "POST", "/", b"taken"));
    assert_eq!(next(&mut bodies).await.unwrap(), "taken");
    first.await.unwrap().unwrap();
    let waiting = tokio::spawn(request(addr, "POST", "/", b"never taken"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(bodies);
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(status(&answer), "503", "{answer}");
    assert!(answer.ends_with("the pipeline is shut\n"), "{answer}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(request(addr, "POST", "/", b"late").await.is_err());
}

#[tokio::test]
async fn too_many_waiting_requests_get_429() {
    let mut bodies = from_http_server("127.0.0.1:0")
        .await
        .unwrap()
        .max_waiting(1);
    let addr = bodies.local_addr();
    // Start the server, and let one request wait for the pipeline.
    assert!(
        tokio::time::timeout(Duration::from_millis(10), bodies.next())
            .await
            .is_err()
    );
    let waiting = tokio::spawn(request(addr, "POST", "/", b"one"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = request(addr, "POST", "/", b"two").await.unwrap();
    assert_eq!(status(&answer), "429", "{answer}");
    assert_eq!(next(&mut bodies).await.unwrap(), "one");
    assert_eq!(status(&waiting.await.unwrap().unwrap()), "200");
}

#[tokio::test]
async fn other_methods_paths_and_large_bodies_are_refused_with_a_reason() {
    let mut bodies = from_http_server("127.0.0.1:0")
        .await
        .unwrap()
        .path("/ingest")
        .max_body_size(10);
    let addr = bodies.local_addr();
    let server = tokio::spawn(async move {
        let item = next(&mut bodies).await.unwrap();
        (item, bodies)
    });
    let get = request(addr, "GET", "/ingest", b"").await.unwrap();
    assert_eq!(status(&get), "405", "{get}");
    let elsewhere = request(addr, "POST", "/other", b"x").await.unwrap();
    assert_eq!(status(&elsewhere), "404", "{elsewhere}");
    let large = request(addr, "POST", "/ingest", &[b'x'; 100])
        .await
        .unwrap();
    assert_eq!(status(&large), "413", "{large}");
    let ok = request(addr, "POST", "/ingest/a", b"small").await.unwrap();
    assert_eq!(status(&ok), "200", "{ok}");
    let (item, _bodies) = server.await.unwrap();
    assert_eq!(item, "small");
}
