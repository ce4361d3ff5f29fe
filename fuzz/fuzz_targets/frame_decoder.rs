//! Arbitrary bytes, in arbitrary chunkings, fed to `FrameDecoder` as the messages a worker reads.
//!
//! Besides "never panics", the decoder must not depend on how the bytes arrive: the chunked run
//! and the all-at-once run must give the same messages and the same error.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rivulet::remote::proto::ClientMessage;
use rivulet::remote::proto::{DEFAULT_MAX_FRAME, FrameDecoder};

/// Decodes `data` delivered in pieces of `chunks` bytes (cycled; empty means all at once).
fn run(data: &[u8], chunks: &[u8], max: usize) -> Vec<Result<ClientMessage, String>> {
    let mut decoder = FrameDecoder::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut rest = data;
    let mut sizes = chunks.iter().map(|&c| usize::from(c).max(1)).cycle();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            let needed = decoder.bytes_needed(&buf);
            match decoder.decode::<ClientMessage>(&mut buf) {
                Ok(Some(m)) => {
                    assert!(
                        matches!(needed, Ok(0)),
                        "decoded while {needed:?} bytes were missing"
                    );
                    out.push(Ok(m));
                }
                Ok(None) => {
                    assert!(
                        matches!(needed, Ok(n) if n > 0),
                        "waiting while nothing was missing"
                    );
                    break;
                }
                Err(e) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
            }
        }
    }
    match decoder.decode_eof::<ClientMessage>(&mut buf) {
        Ok(Some(m)) => out.push(Ok(m)),
        Ok(None) => assert!(buf.is_empty()),
        Err(e) => out.push(Err(e.to_string())),
    }
    out
}

fuzz_target!(|input: &[u8]| {
    // Layout: [max selector][chunk count k][k chunk sizes][stream bytes...]
    let Some((&max_sel, input)) = input.split_first() else {
        return;
    };
    let Some((&k, input)) = input.split_first() else {
        return;
    };
    let k = usize::from(k % 8).min(input.len());
    let (chunks, data) = input.split_at(k);
    let max = if max_sel % 4 == 0 {
        usize::from(max_sel)
    } else {
        DEFAULT_MAX_FRAME
    };

    let chunked = run(data, chunks, max);
    let whole = run(data, &[], max);
    assert_eq!(chunked, whole, "the result depends on the chunking");

    for m in chunked.into_iter().flatten() {
        let mut again = BytesMut::new();
        rivulet::remote::proto::encode(&m, DEFAULT_MAX_FRAME, &mut again).expect("re-encodes");
        let back = FrameDecoder::default()
            .decode::<ClientMessage>(&mut again)
            .expect("decodes");
        assert_eq!(back, Some(m));
    }
});
