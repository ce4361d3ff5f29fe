//! The worker's decision on a client's [`Hello`]: the rules, in the order they are checked.

use super::message::{FunctionId, Hello, PROTOCOL_VERSION, Refusal};

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
