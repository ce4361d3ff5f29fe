//! QUIC and TLS under the protocol: identities and trust, endpoint settings, the proof of the
//! shared secret, and one framed-message reader and writer per stream.
//!
//! This is the only layer besides the client and worker drivers that names quinn; it knows
//! nothing of tasks or values.

mod auth;
mod stream;
mod tls;

pub use auth::{AuthError, EXPORTER_LABEL, proof, verify};
pub use stream::{FrameReader, StreamError, read_message, write_message};
pub(crate) use stream::{MessageReader, spawn_counted_writer, spawn_writer};
pub use tls::{
    Identity, SERVER_NAME, TlsError, TransportSettings, Trust, client_config, peer_client_config,
    server_config,
};
