//! Distributed streams: workers, the client, the wire protocol and remote functions.

pub mod protocol;
// @remote-modules (keep this line: modules are added above it)
