//! Framing of protocol messages, without sockets: round trips, chunkings, bad input.
#![cfg(feature = "remote")]

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use rivulet::remote::proto::{
    ClientMessage, Failure, FailureKind, FunctionId, Hello, HelloReply, Key, PROTOCOL_VERSION,
    Refusal, Reply, Request, Response, Task, TaskKind,
};
use rivulet::remote::proto::{DEFAULT_MAX_FRAME, FrameDecoder, FrameError, HEADER_LEN, encode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

fn function(name: &str) -> FunctionId {
    FunctionId {
        name: name.into(),
        signature: "fn(i64) -> i64".into(),
    }
}

fn hellos() -> Vec<Hello> {
    vec![
        Hello {
            version: PROTOCOL_VERSION,
            proof: None,
            functions: vec![],
        },
        Hello {
            version: u32::MAX,
            proof: Some([0xab; 32]),
            functions: vec![function("app::inc"), function("app::double")],
        },
    ]
}

fn hello_replies() -> Vec<HelloReply> {
    vec![
        HelloReply::Welcome { slots: 4 },
        HelloReply::Refused(Refusal::Version {
            worker: 1,
            client: 2,
        }),
        HelloReply::Refused(Refusal::Unauthenticated),
        HelloReply::Refused(Refusal::MissingFunctions(vec![function("app::inc")])),
    ]
}

fn client_messages() -> Vec<ClientMessage> {
    let mut all = vec![
        ClientMessage::Release(vec![]),
        ClientMessage::Release(vec![Key(0), Key(u64::MAX)]),
        ClientMessage::Scatter {
            key: Key(7),
            value: Bytes::new(),
        },
        ClientMessage::Scatter {
            key: Key(8),
            value: Bytes::from(vec![0xff; 1000]),
        },
    ];
    all.extend(
        requests()
            .into_iter()
            .enumerate()
            .map(|(id, request)| ClientMessage::Request {
                id: id as u64 * 1000,
                request,
            }),
    );
    all
}

fn replies() -> Vec<Reply> {
    responses()
        .into_iter()
        .zip([0, 1, u64::MAX, 3, 4])
        .map(|(response, id)| Reply { id, response })
        .collect()
}

fn tasks() -> Vec<Task> {
    [
        TaskKind::Map,
        TaskKind::Retain,
        TaskKind::Zip,
        TaskKind::Accumulate,
    ]
    .into_iter()
    .map(|kind| Task {
        kind,
        function: "app::inc".into(),
        params: Bytes::from_static(&[1, 2, 3]),
        inputs: vec![Key(1), Key(2)],
        outputs: vec![Key(3)],
        reply_with_value: kind == TaskKind::Map,
    })
    .collect()
}

fn requests() -> Vec<Request> {
    let mut all = vec![Request::Fetch { key: Key(9) }];
    all.extend(tasks().into_iter().map(Request::Submit));
    all
}

fn responses() -> Vec<Response> {
    vec![
        Response::Done {
            sizes: vec![],
            verdict: None,
            values: vec![],
        },
        Response::Done {
            sizes: vec![1, 2],
            verdict: Some(true),
            values: vec![Some(Bytes::from_static(&[42])), None],
        },
        Response::Value(Bytes::from_static(&[1, 2, 3])),
        Response::Failed(Failure::new(FailureKind::Panicked, "boom")),
        Response::Rejected("unknown key 5".into()),
    ]
}

/// Encodes every message into one buffer, then decodes them all back.
fn round_trip_all<M>(msgs: &[M])
where
    M: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let mut buf = BytesMut::new();
    for m in msgs {
        encode(m, DEFAULT_MAX_FRAME, &mut buf).unwrap();
    }
    let mut decoder = FrameDecoder::default();
    for m in msgs {
        assert_eq!(decoder.decode::<M>(&mut buf).unwrap().as_ref(), Some(m));
    }
    assert_eq!(decoder.decode_eof::<M>(&mut buf).unwrap(), None);
    assert!(buf.is_empty());
}

#[test]
fn round_trip_every_message_type() {
    round_trip_all(&hellos());
    round_trip_all(&hello_replies());
    round_trip_all(&client_messages());
    round_trip_all(&replies());
    round_trip_all(&requests());
    round_trip_all(&responses());
    round_trip_all(&tasks());
}

#[test]
fn frame_layout_is_u32_big_endian_length_then_postcard() {
    let msg = Request::Fetch { key: Key(300) };
    let mut buf = BytesMut::new();
    encode(&msg, DEFAULT_MAX_FRAME, &mut buf).unwrap();
    let body = postcard::to_stdvec(&msg).unwrap();
    assert_eq!(&buf[..HEADER_LEN], &(body.len() as u32).to_be_bytes());
    assert_eq!(&buf[HEADER_LEN..], &body[..]);
}

#[test]
fn interoperates_with_length_delimited_codec() {
    let mut codec = LengthDelimitedCodec::builder()
        .length_field_type::<u32>()
        .new_codec();
    // Ours to the codec.
    let mut buf = BytesMut::new();
    for r in requests() {
        encode(&r, DEFAULT_MAX_FRAME, &mut buf).unwrap();
    }
    for r in requests() {
        let body = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(postcard::from_bytes::<Request>(&body).unwrap(), r);
    }
    // The codec to ours.
    for r in responses() {
        codec
            .encode(
                bytes::Bytes::from(postcard::to_stdvec(&r).unwrap()),
                &mut buf,
            )
            .unwrap();
    }
    let mut decoder = FrameDecoder::default();
    for r in responses() {
        assert_eq!(decoder.decode::<Response>(&mut buf).unwrap(), Some(r));
    }
}

#[test]
fn split_input_fed_byte_by_byte() {
    let mut all = BytesMut::new();
    for r in requests() {
        encode(&r, DEFAULT_MAX_FRAME, &mut all).unwrap();
    }
    let mut decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for &byte in all.iter() {
        buf.put_u8(byte);
        let needed = decoder.bytes_needed(&buf).unwrap();
        match decoder.decode::<Request>(&mut buf).unwrap() {
            Some(r) => {
                assert_eq!(
                    needed, 0,
                    "a frame came out while bytes were said to be missing"
                );
                got.push(r);
            }
            None => assert!(needed > 0, "no frame came out, yet none was missing"),
        }
    }
    assert_eq!(got, requests());
    assert!(buf.is_empty());
}

#[test]
fn partial_frame_is_left_in_the_buffer() {
    let mut frame = BytesMut::new();
    encode(
        &ClientMessage::Release(vec![Key(1)]),
        DEFAULT_MAX_FRAME,
        &mut frame,
    )
    .unwrap();
    let mut decoder = FrameDecoder::default();
    for cut in 0..frame.len() {
        let mut buf = BytesMut::from(&frame[..cut]);
        assert_eq!(decoder.decode::<ClientMessage>(&mut buf).unwrap(), None);
        assert_eq!(&buf[..], &frame[..cut]);
        // First the rest of the header, then the rest of the frame it announces.
        let needed = if cut < HEADER_LEN {
            HEADER_LEN - cut
        } else {
            frame.len() - cut
        };
        assert_eq!(decoder.bytes_needed(&buf).unwrap(), needed);
    }
}

#[test]
fn truncated_frames_are_errors_at_end_of_stream() {
    let mut frame = BytesMut::new();
    encode(
        &Response::Value(Bytes::from(vec![9; 10])),
        DEFAULT_MAX_FRAME,
        &mut frame,
    )
    .unwrap();
    let total = frame.len();
    let mut decoder = FrameDecoder::default();
    for cut in 1..total {
        let mut buf = BytesMut::from(&frame[..cut]);
        let expected = if cut < HEADER_LEN { HEADER_LEN } else { total };
        match decoder.decode_eof::<Response>(&mut buf) {
            Err(FrameError::Truncated {
                expected: e,
                received,
            }) => {
                assert_eq!((e, received), (expected, cut));
            }
            other => panic!("cut at {cut}: expected Truncated, got {other:?}"),
        }
    }
    let mut empty = BytesMut::new();
    assert_eq!(decoder.decode_eof::<Response>(&mut empty).unwrap(), None);
}

#[test]
fn oversized_prefix_is_refused_before_the_body_arrives() {
    let mut decoder = FrameDecoder::default();
    let mut buf = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
    let capacity = buf.capacity();
    match decoder.decode::<Request>(&mut buf) {
        Err(FrameError::TooLarge { len, max }) => {
            assert_eq!(len, u32::MAX as usize);
            assert_eq!(max, DEFAULT_MAX_FRAME);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(
        buf.capacity(),
        capacity,
        "nothing reserved for a refused frame"
    );
    assert!(matches!(
        decoder.bytes_needed(&buf),
        Err(FrameError::TooLarge { .. })
    ));

    // Exactly at the limit is fine; one byte more is not.
    let mut small = FrameDecoder::new(8);
    let mut at_limit = BytesMut::from(&8u32.to_be_bytes()[..]);
    assert_eq!(small.decode::<Request>(&mut at_limit).unwrap(), None);
    let mut above = BytesMut::from(&9u32.to_be_bytes()[..]);
    assert!(matches!(
        small.decode::<Request>(&mut above),
        Err(FrameError::TooLarge { len: 9, max: 8 })
    ));
}

#[test]
fn waiting_for_a_large_frame_reserves_memory_in_steps() {
    let mut decoder = FrameDecoder::default();
    let mut buf = BytesMut::from(&((DEFAULT_MAX_FRAME as u32).to_be_bytes())[..]);
    assert_eq!(decoder.decode::<Request>(&mut buf).unwrap(), None);
    assert!(
        buf.capacity() < 1 << 20,
        "reserved {} bytes on the peer's word",
        buf.capacity()
    );
}

#[test]
fn encode_refuses_oversized_messages_and_leaves_the_buffer_alone() {
    let mut buf = BytesMut::new();
    encode(
        &ClientMessage::Release(vec![Key(1)]),
        DEFAULT_MAX_FRAME,
        &mut buf,
    )
    .unwrap();
    let before = buf.clone();
    let big = ClientMessage::Scatter {
        key: Key(1),
        value: Bytes::from(vec![0; 100]),
    };
    match encode(&big, 50, &mut buf) {
        Err(FrameError::TooLarge { len, max: 50 }) => assert!(len > 100),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(buf, before);
}

#[test]
fn malformed_bodies_and_trailing_bytes_are_errors() {
    let mut decoder = FrameDecoder::default();
    // Variant index 200 of Request does not exist.
    let mut buf = BytesMut::from(&[0, 0, 0, 1, 200][..]);
    assert!(matches!(
        decoder.decode::<Request>(&mut buf),
        Err(FrameError::Malformed(_))
    ));
    assert!(buf.is_empty(), "a malformed frame is consumed");

    let mut body = postcard::to_stdvec(&Request::Fetch { key: Key(1) }).unwrap();
    body.extend_from_slice(&[1, 2]);
    let mut buf = BytesMut::new();
    buf.put_u32(body.len() as u32);
    buf.extend_from_slice(&body);
    assert!(matches!(
        decoder.decode::<Request>(&mut buf),
        Err(FrameError::TrailingBytes { extra: 2 })
    ));

    // An empty frame holds no Request.
    let mut buf = BytesMut::from(&[0, 0, 0, 0][..]);
    assert!(matches!(
        decoder.decode::<Request>(&mut buf),
        Err(FrameError::Malformed(_))
    ));
}

#[test]
fn errors_read_well() {
    let err = FrameError::TooLarge { len: 10, max: 5 };
    assert_eq!(
        err.to_string(),
        "frame of 10 bytes exceeds the limit of 5 bytes"
    );
    let err = FrameError::Truncated {
        expected: 13,
        received: 6,
    };
    assert_eq!(
        err.to_string(),
        "stream ended in the middle of a frame: 6 of 13 bytes received"
    );
}

/// Decodes `data` fed in chunks of the given sizes (cycled), never panicking.
fn decode_chunked(data: &[u8], chunks: &[usize], max: usize) -> Vec<Result<Request, String>> {
    let mut decoder = FrameDecoder::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut rest = data;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match decoder.decode::<Request>(&mut buf) {
                Ok(Some(r)) => out.push(Ok(r)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
            }
        }
    }
    match decoder.decode_eof::<Request>(&mut buf) {
        Ok(Some(r)) => out.push(Ok(r)),
        Ok(None) => {}
        Err(e) => out.push(Err(e.to_string())),
    }
    out
}

fn arb_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        any::<u64>().prop_map(|k| Request::Fetch { key: Key(k) }),
        (
            0..4usize,
            ".{0,12}",
            proptest::collection::vec(any::<u64>(), 0..4),
            any::<bool>()
        )
            .prop_map(|(kind, function, keys, reply_with_value)| {
                let kind = [
                    TaskKind::Map,
                    TaskKind::Retain,
                    TaskKind::Zip,
                    TaskKind::Accumulate,
                ][kind];
                Request::Submit(Task {
                    kind,
                    function,
                    params: Bytes::new(),
                    inputs: keys.iter().copied().map(Key).collect(),
                    outputs: keys.into_iter().rev().map(Key).collect(),
                    reply_with_value,
                })
            }),
    ]
}

proptest! {
    #[test]
    fn random_bytes_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..512),
        chunks in proptest::collection::vec(1usize..40, 1..8),
        max in prop_oneof![Just(DEFAULT_MAX_FRAME), 0usize..64],
    ) {
        let _ = decode_chunked(&data, &chunks, max);
    }

    #[test]
    fn random_bodies_behind_valid_prefixes_never_panic(
        bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..6),
        chunks in proptest::collection::vec(1usize..40, 1..8),
    ) {
        let mut data = Vec::new();
        for b in &bodies {
            data.extend_from_slice(&(b.len() as u32).to_be_bytes());
            data.extend_from_slice(b);
        }
        let _ = decode_chunked(&data, &chunks, DEFAULT_MAX_FRAME);
    }

    #[test]
    fn any_chunking_gives_back_the_messages(
        msgs in proptest::collection::vec(arb_request(), 0..8),
        chunks in proptest::collection::vec(1usize..40, 1..8),
    ) {
        let mut data = BytesMut::new();
        for m in &msgs {
            encode(m, DEFAULT_MAX_FRAME, &mut data).unwrap();
        }
        let got = decode_chunked(&data, &chunks, DEFAULT_MAX_FRAME);
        prop_assert_eq!(got, msgs.into_iter().map(Ok).collect::<Vec<_>>());
    }
}

/// Found by fuzzing: a whole reply to a request whose pieces have begun is an error that leaves
/// the waiter in the table, so closing the table still answers it.
#[test]
fn a_broken_reply_in_pieces_loses_no_waiter() {
    use rivulet::remote::proto::InFlight;
    let mut table = InFlight::new(1 << 20);
    let id = table.insert("w").unwrap();
    let piece = Response::ValuePart {
        total: 10,
        offset: 0,
        chunk: bytes::Bytes::from_static(&[0; 4]),
    };
    assert!(
        table
            .on_reply(Reply {
                id,
                response: piece
            })
            .unwrap()
            .is_none()
    );
    assert!(
        table
            .on_reply(Reply {
                id,
                response: Response::Value(bytes::Bytes::new())
            })
            .is_err()
    );
    assert_eq!(table.close(), vec![(id, "w")]);
}
