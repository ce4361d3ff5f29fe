//! Splitting bytes into delimited records, with a maximum record size.

use bytes::{Bytes, BytesMut};

/// The largest record a source keeps by default: 1 MiB.
pub const DEFAULT_MAX_RECORD_SIZE: usize = 1 << 20;

/// How many bytes a source reads at once.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// What [`Records::next_record`] found.
#[derive(Debug)]
pub(crate) enum Split {
    /// A complete record, its delimiter included.
    Record(Bytes),
    /// A record longer than the maximum: it is skipped up to and including its delimiter.
    TooLong,
}

/// Bytes read so far, split into records that keep their delimiter.
///
/// Memory stays bounded: once the buffer holds more than `max` bytes with no delimiter, the record
/// is reported as too long once and its bytes are discarded up to the next delimiter.
#[derive(Debug)]
pub(crate) struct Records {
    delimiter: Vec<u8>,
    max: usize,
    buf: BytesMut,
    /// `buf[..searched]` holds no delimiter start that could complete.
    searched: usize,
    /// Inside a record already reported as too long.
    skipping: bool,
    /// Bytes consumed from the input before `buf[0]`.
    consumed: u64,
}

impl Records {
    pub(crate) fn new(delimiter: Vec<u8>, max: usize) -> Self {
        Records {
            delimiter,
            max,
            buf: BytesMut::new(),
            searched: 0,
            skipping: false,
            consumed: 0,
        }
    }

    /// Input position just after the last byte handed out or discarded.
    pub(crate) fn consumed(&self) -> u64 {
        self.consumed
    }

    pub(crate) fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Forgets everything buffered and restarts positions at `position`.
    pub(crate) fn reset(&mut self, position: u64) {
        self.buf.clear();
        self.searched = 0;
        self.skipping = false;
        self.consumed = position;
    }

    fn discard(&mut self, n: usize) {
        let _ = self.buf.split_to(n);
        self.consumed += n as u64;
        self.searched = self.searched.saturating_sub(n);
    }

    /// The next complete record, or `None` when more input is needed.
    pub(crate) fn next_record(&mut self) -> Option<Split> {
        loop {
            let d = self.delimiter.len().max(1);
            let start = self.searched;
            let found = if self.delimiter.is_empty() {
                None
            } else {
                self.buf[start..]
                    .windows(d)
                    .position(|w| w == self.delimiter.as_slice())
                    .map(|i| start + i + d)
            };
            match found {
                Some(end) => {
                    let skipping = std::mem::replace(&mut self.skipping, false);
                    let record = self.buf.split_to(end).freeze();
                    self.consumed += end as u64;
                    self.searched = 0;
                    if skipping {
                        continue;
                    }
                    if record.len() > self.max {
                        return Some(Split::TooLong);
                    }
                    return Some(Split::Record(record));
                }
                None => {
                    // A delimiter may still start in the last `d - 1` bytes.
                    self.searched = self.buf.len().saturating_sub(d - 1);
                    if self.buf.len() > self.max || self.skipping {
                        let keep = d - 1;
                        let drop = self.buf.len().saturating_sub(keep);
                        self.discard(drop);
                        if !std::mem::replace(&mut self.skipping, true) {
                            return Some(Split::TooLong);
                        }
                    }
                    return None;
                }
            }
        }
    }

    /// What is left when the input ends: an incomplete last record, if any.
    pub(crate) fn remainder(&mut self) -> Option<Bytes> {
        let skipping = std::mem::replace(&mut self.skipping, false);
        let n = self.buf.len();
        let rest = self.buf.split_to(n).freeze();
        self.consumed += n as u64;
        self.searched = 0;
        (!skipping && !rest.is_empty()).then_some(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(r: &mut Records) -> Vec<Result<Bytes, ()>> {
        let mut out = Vec::new();
        for _ in 0..10_000 {
            match r.next_record() {
                Some(Split::Record(b)) => out.push(Ok(b)),
                Some(Split::TooLong) => out.push(Err(())),
                None => break,
            }
        }
        out
    }

    #[test]
    fn splits_keeping_the_delimiter_across_chunks() {
        let mut r = Records::new(b"\r\n".to_vec(), 100);
        r.extend(b"ab\r");
        assert!(all(&mut r).is_empty());
        r.extend(b"\ncd\r\nef");
        assert_eq!(
            all(&mut r),
            vec![Ok(Bytes::from("ab\r\n")), Ok(Bytes::from("cd\r\n"))]
        );
        assert_eq!(r.consumed(), 8);
        assert_eq!(r.remainder(), Some(Bytes::from("ef")));
    }

    #[test]
    fn an_overlong_record_is_reported_once_and_skipped() {
        let mut r = Records::new(b"\n".to_vec(), 4);
        r.extend(b"0123456");
        assert_eq!(all(&mut r), vec![Err(())]);
        r.extend(b"789");
        assert!(all(&mut r).is_empty());
        r.extend(b"9\nok\n");
        assert_eq!(all(&mut r), vec![Ok(Bytes::from("ok\n"))]);
        // A too-long record that arrives whole in one chunk.
        r.extend(b"abcdefgh\nyes\n");
        assert_eq!(all(&mut r), vec![Err(()), Ok(Bytes::from("yes\n"))]);
        assert_eq!(r.consumed(), 28);
    }

    proptest::proptest! {
        /// However the input is cut into reads, the records (and skipped ones) are the same as
        /// splitting it whole, and the buffer never holds much more than the maximum.
        #[test]
        fn chunking_does_not_change_the_records(
            data in proptest::collection::vec(proptest::sample::select(vec![b'a', b'b', b'\n', b'\r']), 0..400),
            cuts in proptest::collection::vec(1_usize..50, 1..40),
            crlf in proptest::bool::ANY,
        ) {
            let delimiter = if crlf { b"\r\n".to_vec() } else { b"\n".to_vec() };
            let max = 8;
            let mut whole = Records::new(delimiter.clone(), max);
            whole.extend(&data);
            let expected = all(&mut whole);
            let mut chunked = Records::new(delimiter, max);
            let mut got = Vec::new();
            let mut rest = &data[..];
            let mut i = 0;
            while !rest.is_empty() {
                let n = cuts[i % cuts.len()].min(rest.len());
                chunked.extend(&rest[..n]);
                rest = &rest[n..];
                got.extend(all(&mut chunked));
                proptest::prop_assert!(chunked.buf.len() <= max + 50);
                i += 1;
            }
            // A too-long record split across reads is reported when it passes the maximum, which
            // may be before its delimiter arrives: the same reports, in the same order.
            proptest::prop_assert_eq!(got, expected);
            proptest::prop_assert_eq!(chunked.consumed(), whole.consumed());
        }
    }
}
