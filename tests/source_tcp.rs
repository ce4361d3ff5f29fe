//! `from_tcp`: delimited records from any number of clients, with back-pressure (V135, V136).

mod support;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use rivulet::prelude::StreamzExt;
use rivulet::sources::{SourceError, from_tcp};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn next<S: Stream + Unpin>(s: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("no item within 10 s")
        .expect("the stream ended")
}

#[tokio::test]
async fn records_from_several_clients() {
    let mut records = from_tcp("127.0.0.1:0").await.unwrap();
    let addr = records.local_addr();
    let mut got = Vec::new();
    for data in [&b"data\n"[..], b"data\n", b"data2\n"] {
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(data).await.unwrap();
        got.push(next(&mut records).await.unwrap());
    }
    assert_eq!(got, vec!["data\n", "data\n", "data2\n"]);
}

/// V136: word count over TCP.
#[tokio::test]
async fn word_count_example() {
    let records = from_tcp("127.0.0.1:0").await.unwrap();
    let addr = records.local_addr();
    let counts = records
        .map(|r| {
            let r = r.unwrap();
            r.split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
                .map(Bytes::copy_from_slice)
                .collect::<Vec<_>>()
        })
        .flatten_iter()
        .frequencies();
    let mut counts = Box::pin(counts);
    let mut c1 = TcpStream::connect(addr).await.unwrap();
    c1.write_all(b"data\n").await.unwrap();
    let snapshot = |m: HashMap<Bytes, usize>| {
        let mut v: Vec<(String, usize)> = m
            .into_iter()
            .map(|(k, n)| (String::from_utf8_lossy(&k).into_owned(), n))
            .collect();
        v.sort();
        v
    };
    assert_eq!(snapshot(next(&mut counts).await), vec![("data".into(), 1)]);
    let mut c2 = TcpStream::connect(addr).await.unwrap();
    c2.write_all(b"data\ndata\n").await.unwrap();
    assert_eq!(snapshot(next(&mut counts).await), vec![("data".into(), 2)]);
    assert_eq!(snapshot(next(&mut counts).await), vec![("data".into(), 3)]);
    let mut c3 = TcpStream::connect(addr).await.unwrap();
    c3.write_all(b"data2\n").await.unwrap();
    assert_eq!(
        snapshot(next(&mut counts).await),
        vec![("data".into(), 3), ("data2".into(), 1)]
    );
}

#[tokio::test]
async fn a_slow_pipeline_slows_the_client() {
    let mut records = from_tcp("127.0.0.1:0").await.unwrap();
    let addr = records.local_addr();
    assert!(
        tokio::time::timeout(Duration::from_millis(10), records.next())
            .await
            .is_err()
    );
    let writer = tokio::spawn(async move {
        let mut client = TcpStream::connect(addr).await.unwrap();
        let line = vec![b'x'; 1023]
            .into_iter()
            .chain([b'\n'])
            .collect::<Vec<u8>>();
        // 64 MiB if nothing pushed back; the socket buffers fill long before that.
        for written in 0..65_536_u64 {
            if client.write_all(&line).await.is_err() {
                return written;
            }
        }
        65_536
    });
    // Take a few records, then stop reading: the writer must get stuck, not finish.
    for _ in 0..5 {
        next(&mut records).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !writer.is_finished(),
        "the client wrote 64 MiB into a paused pipeline"
    );
    drop(records);
    let written = tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .expect("dropping the stream closes the connection")
        .unwrap();
    assert!(written < 65_536);
}

#[tokio::test]
async fn an_overlong_record_is_a_typed_error_and_closes_that_connection() {
    let mut records = from_tcp("127.0.0.1:0").await.unwrap().max_record_size(100);
    let addr = records.local_addr();
    let mut bad = TcpStream::connect(addr).await.unwrap();
    let writer = tokio::spawn(async move {
        // A peer that never sends a delimiter.
        let chunk = vec![b'x'; 4096];
        for _ in 0..10_000 {
            if bad.write_all(&chunk).await.is_err() {
                return true;
            }
        }
        false
    });
    assert!(matches!(
        next(&mut records).await,
        Err(SourceError::RecordTooLong { max: 100 })
    ));
    let mut good = TcpStream::connect(addr).await.unwrap();
    good.write_all(b"fine\n").await.unwrap();
    assert_eq!(next(&mut records).await.unwrap(), "fine\n");
    let closed = tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .unwrap()
        .unwrap();
    assert!(closed, "the connection of the peer was closed");
}

#[tokio::test]
async fn dropping_the_stream_closes_the_listener() {
    let records = from_tcp("127.0.0.1:0").await.unwrap();
    let addr = records.local_addr();
    let mut records = records;
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(b"x\n").await.unwrap();
    next(&mut records).await.unwrap();
    drop(records);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn every_source_is_send_and_static() {
    fn send_static<T: Send + 'static>(_: &T) {}
    let tcp = from_tcp("127.0.0.1:0").await.unwrap();
    send_static(&tcp);
    #[cfg(feature = "http")]
    {
        let http = rivulet::sources::from_http_server("127.0.0.1:0")
            .await
            .unwrap();
        send_static(&http);
    }
    send_static(&rivulet::sources::from_process(
        tokio::process::Command::new("true"),
    ));
    send_static(&rivulet::sources::from_periodic(
        Duration::from_secs(1),
        || 1,
    ));
    send_static(&rivulet::sources::filenames("*"));
    send_static(&rivulet::sources::from_textfile("x"));
    send_static(&rivulet::sources::from_textfile("x").checkpoint("x.checkpoint"));
}
