//! Proving knowledge of a shared secret without sending it.
//!
//! Both ends of a connection derive the same 32 bytes from its TLS session (a keying-material
//! exporter, RFC 5705 / RFC 8446 §7.5, with the label [`EXPORTER_LABEL`]); the client sends
//! HMAC-SHA256 of them keyed by the secret, and the worker computes the same and compares in
//! constant time. The secret never travels, and since the exported bytes are unique to the TLS
//! session, a proof seen on one connection is worthless on any other: it cannot be replayed,
//! nor relayed by a man in the middle (who would hold two different sessions).
//!
//! ```no_run
//! use rivulet::remote::transport::{proof, verify, AuthError};
//!
//! # fn example(client_side: quinn::Connection, worker_side: quinn::Connection) -> Result<(), AuthError> {
//! let secret = b"correct horse battery staple";
//! let proof = proof(&client_side, secret)?; // sent in `Hello::proof`
//! assert!(verify(&worker_side, secret, &proof));
//! # Ok(())
//! # }
//! ```

use ring::hmac;

/// The label of the TLS exporter the proof is derived from.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-rivulet-secret";

/// Why no proof could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The secret is empty: it would prove nothing.
    #[error("the shared secret is empty")]
    EmptySecret,
    /// The TLS session could not export keying material (its handshake has not completed).
    #[error("the TLS session cannot export keying material")]
    Exporter,
}

/// The proof that this side of `conn` knows `secret`: HMAC-SHA256 keyed by `secret` over 32
/// bytes exported from the connection's TLS session.
///
/// # Errors
///
/// [`AuthError::EmptySecret`] for an empty secret, [`AuthError::Exporter`] if the session
/// cannot export keying material.
pub fn proof(conn: &quinn::Connection, secret: &[u8]) -> Result<[u8; 32], AuthError> {
    let material = exported(conn, secret)?;
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), &material);
    let mut out = [0u8; 32];
    // An HMAC-SHA256 tag is always 32 bytes long.
    out.copy_from_slice(tag.as_ref());
    Ok(out)
}

/// Whether `proof` shows that the peer of `conn` knows `secret`, compared in constant time.
///
/// False for an empty secret, or when the session cannot export keying material.
pub fn verify(conn: &quinn::Connection, secret: &[u8], proof: &[u8; 32]) -> bool {
    match exported(conn, secret) {
        Ok(material) => {
            hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, secret), &material, proof).is_ok()
        }
        Err(e) => {
            tracing::warn!("cannot check a secret proof: {e}");
            false
        }
    }
}

fn exported(conn: &quinn::Connection, secret: &[u8]) -> Result<[u8; 32], AuthError> {
    if secret.is_empty() {
        return Err(AuthError::EmptySecret);
    }
    let mut material = [0u8; 32];
    conn.export_keying_material(&mut material, EXPORTER_LABEL, b"")
        .map_err(|_| AuthError::Exporter)?;
    Ok(material)
}
