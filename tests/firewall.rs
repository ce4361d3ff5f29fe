//! The local/remote type firewall: passing a `RemoteStream` where a local stream is expected, or
//! calling a local-only operator on it, does not compile, and the message says to `.gather()`.
#![cfg(feature = "remote")]

#[test]
fn remote_streams_are_not_local_streams() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/firewall/*.rs");
}
