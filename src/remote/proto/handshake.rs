//! The worker's decision on a client's [`Hello`]: the rules, in the order they are checked.

use super::frame::{FrameError, decode_exact};
use super::message::{FunctionId, Hello, PROTOCOL_VERSION, Refusal};

/// The largest hello a worker reads before the client is authenticated: a hello is a version,
/// a proof and the names of the client's functions, kilobytes for thousands of functions.
pub const MAX_HELLO: usize = 256 << 10;

/// Why the client may not be served, if it may not: another protocol version, then no proof of
/// who it is, then functions this worker lacks. The function list is looked at only once the
/// client is authenticated.
///
/// `authenticated` checks the hello's proof (or the client's certificate); `missing` lists the
/// requested functions this worker does not have.
///
/// ```
/// use rivulet::remote::proto::{check_hello, Hello, Refusal, PROTOCOL_VERSION};
///
/// let hello = Hello { version: PROTOCOL_VERSION, proof: None, functions: vec![] };
/// assert_eq!(check_hello(&hello, |_| false, |_| vec![]), Some(Refusal::Unauthenticated));
/// assert_eq!(check_hello(&hello, |_| true, |_| vec![]), None);
/// ```
pub fn check_hello(
    hello: &Hello,
    authenticated: impl FnOnce(Option<&[u8; 32]>) -> bool,
    missing: impl FnOnce(&[FunctionId]) -> Vec<FunctionId>,
) -> Option<Refusal> {
    if hello.version != PROTOCOL_VERSION {
        return Some(Refusal::Version {
            worker: PROTOCOL_VERSION,
            client: hello.version,
        });
    }
    if !authenticated(hello.proof.as_ref()) {
        return Some(Refusal::Unauthenticated);
    }
    let missing = missing(&hello.functions);
    if !missing.is_empty() {
        return Some(Refusal::MissingFunctions(missing));
    }
    None
}

/// [`check_hello`] on a hello's undecoded frame body, in the order that costs a stranger the
/// least: the version and the proof are decoded and checked before the list of functions is
/// decoded at all.
///
/// # Errors
///
/// A [`FrameError`] if the body is not a hello.
///
/// ```
/// use bytes::BytesMut;
/// use rivulet::remote::proto::{check_hello_body, encode, FunctionId, Hello, Refusal, PROTOCOL_VERSION};
///
/// let functions = vec![FunctionId { name: "f".into(), signature: "i64 -> i64".into() }; 1000];
/// let hello = Hello { version: PROTOCOL_VERSION, proof: None, functions };
/// let mut frame = BytesMut::new();
/// encode(&hello, 1 << 20, &mut frame).unwrap();
/// let body = &frame[4..];
/// let mut listed = false;
/// let refusal = check_hello_body(body, |_| false, |_| { listed = true; vec![] }).unwrap();
/// assert_eq!(refusal, Some(Refusal::Unauthenticated));
/// assert!(!listed, "a stranger's function list is never looked at");
/// ```
pub fn check_hello_body(
    body: &[u8],
    authenticated: impl FnOnce(Option<&[u8; 32]>) -> bool,
    missing: impl FnOnce(&[FunctionId]) -> Vec<FunctionId>,
) -> Result<Option<Refusal>, FrameError> {
    // A hello's encoding is its fields in order: version, proof, functions.
    let (version, rest) = postcard::take_from_bytes::<u32>(body).map_err(FrameError::Malformed)?;
    if version != PROTOCOL_VERSION {
        return Ok(Some(Refusal::Version {
            worker: PROTOCOL_VERSION,
            client: version,
        }));
    }
    let (proof, rest) =
        postcard::take_from_bytes::<Option<[u8; 32]>>(rest).map_err(FrameError::Malformed)?;
    if !authenticated(proof.as_ref()) {
        return Ok(Some(Refusal::Unauthenticated));
    }
    let functions: Vec<FunctionId> = decode_exact(rest)?;
    let missing = missing(&functions);
    Ok((!missing.is_empty()).then_some(Refusal::MissingFunctions(missing)))
}
