//! The tasks a worker makes without running a function: a zip's pair, a batch's `Vec`, a
//! `Vec`'s elements, built from the inputs' bytes alone (the worker never knows their types).
//!
//! Postcard encodes a tuple as its fields' encodings back to back, and a `Vec<T>` as a varint
//! of its length followed by its elements' encodings: so a pair and a batch are made by
//! concatenation, and a `Vec` is cut into its elements at offsets the client computed (it
//! knows `T`; the worker checks that the cuts fit the bytes and the `Vec`'s length).

use bytes::{BufMut, Bytes, BytesMut};

use super::message::{Failure, FailureKind, TaskKind};
use super::session::TaskOutput;

/// The longest varint a `u64` takes.
const MAX_VARINT: usize = 10;

/// Appends `n` as postcard encodes a length (LEB128: seven bits a byte, low bits first).
pub(crate) fn put_varint(out: &mut BytesMut, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.put_u8(byte);
            return;
        }
        out.put_u8(byte | 0x80);
    }
}

/// Reads a varint at the start of `bytes`: its value and how many bytes it took, or `None` if
/// `bytes` does not start with one.
///
/// ```
/// use rivulet::remote::proto::read_varint;
///
/// // postcard encodes a `Vec` of 300 elements' length as two bytes.
/// let encoded = postcard::to_allocvec(&vec![0_u8; 300]).unwrap();
/// assert_eq!(read_varint(&encoded), Some((300, 2)));
/// assert_eq!(read_varint(&[0x80]), None);
/// ```
pub fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut n: u64 = 0;
    for (i, byte) in bytes.iter().take(MAX_VARINT).enumerate() {
        let bits = u64::from(byte & 0x7f);
        let shift = 7 * i as u32;
        // The tenth byte may only carry the top bit of a u64.
        if shift == 63 && bits > 1 {
            return None;
        }
        n |= bits << shift;
        if byte & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
}

/// A `Vec` of the inputs: the varint of their number, then their encodings in order.
pub(crate) fn collect(inputs: &[Bytes]) -> Bytes {
    let len: usize = inputs.iter().map(Bytes::len).sum();
    let mut out = BytesMut::with_capacity(len + MAX_VARINT);
    put_varint(&mut out, inputs.len() as u64);
    for input in inputs {
        out.extend_from_slice(input);
    }
    out.freeze()
}

/// The parameters of a [`TaskKind::Split`] task: where each element of the `Vec` starts, and
/// where the last one ends (`n + 1` offsets for `n` elements).
///
/// ```
/// use rivulet::remote::proto::split_params;
///
/// let params = split_params(&[1, 3, 4]);
/// assert_eq!(postcard::from_bytes::<Vec<u64>>(&params).unwrap(), vec![1, 3, 4]);
/// ```
pub fn split_params(cuts: &[u64]) -> Bytes {
    // A `Vec<u64>`'s encoding cannot fail.
    Bytes::from(postcard::to_allocvec(cuts).unwrap_or_default())
}

/// Cuts the encoding of a `Vec` into its `outputs` elements at the offsets in `params`.
pub(crate) fn split(input: &Bytes, params: &[u8], outputs: usize) -> Result<Vec<Bytes>, Failure> {
    let bad = |why: &str| Failure::new(FailureKind::Decode, format!("cannot split: {why}"));
    let cuts: Vec<u64> =
        postcard::from_bytes(params).map_err(|_| bad("the offsets are not encoded"))?;
    let Some((len, prefix)) = read_varint(input) else {
        return Err(bad("the value does not start with a length"));
    };
    if len != outputs as u64 || cuts.len() != outputs + 1 {
        return Err(bad(&format!(
            "the value holds {len} elements, the task {outputs} outputs and {} offsets",
            cuts.len()
        )));
    }
    if cuts.first() != Some(&(prefix as u64)) || cuts.last() != Some(&(input.len() as u64)) {
        return Err(bad("the offsets do not span the elements"));
    }
    if cuts.windows(2).any(|w| w[0] > w[1]) {
        return Err(bad("the offsets go backwards"));
    }
    // Copied rather than sliced, so a released batch does not stay alive behind its elements
    // (and the bytes a session holds are the bytes it counts).
    Ok(cuts
        .windows(2)
        .map(|w| Bytes::copy_from_slice(&input[w[0] as usize..w[1] as usize]))
        .collect())
}

/// Makes the outputs of a built-in task ([`TaskKind::is_built_in`]) from its inputs' bytes.
pub(crate) fn make(
    kind: TaskKind,
    inputs: &[Bytes],
    params: &[u8],
    outputs: usize,
) -> Result<TaskOutput, Failure> {
    let values = match (kind, inputs) {
        (TaskKind::Zip, _) => vec![Bytes::from(inputs.concat())],
        (TaskKind::Collect, _) => vec![collect(inputs)],
        (TaskKind::Split, [input]) => split(input, params, outputs)?,
        _ => {
            return Err(Failure::new(
                FailureKind::Encode,
                format!("{kind:?} is not made without a function"),
            ));
        }
    };
    Ok(TaskOutput {
        values,
        verdict: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_postcards_lengths() {
        for n in [0_usize, 1, 127, 128, 300, 16_384, 1 << 40] {
            let mut out = BytesMut::new();
            put_varint(&mut out, n as u64);
            let mut postcard = postcard::to_allocvec(&n).unwrap();
            assert_eq!(&out[..], &postcard[..], "{n}");
            postcard.push(7);
            assert_eq!(read_varint(&postcard), Some((n as u64, out.len())));
        }
        assert_eq!(read_varint(&[0xff; 10]), None);
        assert_eq!(read_varint(&[]), None);
    }

    #[test]
    fn a_collected_batch_is_the_vec_and_splits_back() {
        let items = ["a".to_owned(), String::new(), "ccc".to_owned()];
        let inputs: Vec<Bytes> = items
            .iter()
            .map(|s| Bytes::from(postcard::to_allocvec(s).unwrap()))
            .collect();
        let batch = collect(&inputs);
        assert_eq!(postcard::from_bytes::<Vec<String>>(&batch).unwrap(), items);
        let params = split_params(&[1, 3, 4, 8]);
        assert_eq!(split(&batch, &params, 3).unwrap(), inputs);
        // Wrong counts, or cuts that do not span the value, fail typed.
        assert!(split(&batch, &params, 2).is_err());
        assert!(split(&batch, &split_params(&[1, 3, 4, 9]), 3).is_err());
        assert!(split(&batch, &split_params(&[1, 4, 3, 8]), 3).is_err());
        assert!(split(&batch, &[0xff], 3).is_err());
        assert_eq!(collect(&[]), Bytes::from_static(&[0]));
    }
}
