//! Certificates and the QUIC endpoint configurations of workers and clients.
//!
//! Every connection is TLS 1.3 (rustls with the ring provider, whatever the process-wide default
//! provider is) and negotiates the ALPN name [`proto::ALPN`], so a worker never talks to
//! something that is not a rivulet client of the same protocol.
//!
//! A worker proves who it is with an [`Identity`]; a client decides whom to believe with a
//! [`Trust`]:
//!
//! - [`Trust::Pinned`]: exactly these certificates, compared byte for byte (like SSH host keys).
//!   The embedded cluster gives each worker a fresh [`Identity::self_signed`] certificate and pins
//!   it; nothing need be a CA, and names and validity dates play no part.
//! - [`Trust::Ca`]: certificates issued by these CAs for the name the client connects to, checked
//!   the usual way (WebPKI). `examples/make_certs.rs` makes such a CA and its certificates.
//!
//! Clients connect with the server name [`SERVER_NAME`] (`"localhost"`): certificates made here
//! carry it, and `127.0.0.1`, so the same certificate passes both kinds of check.
//!
//! A worker may also require client certificates ([`server_config`] with `client_auth`).
//!
//! Workers of a client whose clients prove a shared secret also accept each other, under the
//! ALPN name [`proto::PEER_ALPN`], to pass values worker to worker: the puller believes only the
//! certificate the client saw for the holder ([`peer_client_config`]), and the holder only a
//! capability the client handed out (see [`proto::Grants`]).
//!
//! ```
//! use rivulet::remote::transport::{client_config, server_config, Identity, Trust, TransportSettings};
//!
//! let worker = Identity::self_signed(vec!["worker-1".into()]).unwrap();
//! let settings = TransportSettings::default();
//! let server = server_config(&worker, None, &settings).unwrap();
//! let client = client_config(&worker.trust_pinned(), None, &settings).unwrap();
//! # let _ = (server, client);
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
};

use crate::remote::proto;

/// The server name a client gives when it connects to a worker.
///
/// With [`Trust::Pinned`] the name plays no part; with [`Trust::Ca`] the worker's certificate
/// must be issued for it. [`Identity::self_signed`] and `examples/make_certs.rs` always include
/// it (and `127.0.0.1`).
pub const SERVER_NAME: &str = "localhost";

/// The names every certificate made by rivulet carries besides those asked for.
const DEFAULT_NAMES: [&str; 2] = [SERVER_NAME, "127.0.0.1"];

/// Why a certificate could not be made or loaded, or a configuration built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rcgen could not make a certificate (for example, a name that is not a valid DNS name).
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM file could not be read or parsed.
    #[error("cannot read PEM file {}: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong (a missing file shows up as an I/O error here).
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// A PEM file holds no `CERTIFICATE` section.
    #[error("{} holds no certificate (no \"BEGIN CERTIFICATE\" section)", path.display())]
    NoCertificates {
        /// The file.
        path: PathBuf,
    },
    /// A PEM file holds no private key section.
    #[error("{} holds no private key (no \"BEGIN PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\" section)", path.display())]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// The private key cannot be used, or does not belong to the certificate.
    #[error("the key in {} does not fit the certificate in {}: {source}", key_path.display(), cert_path.display())]
    KeyMismatch {
        /// The certificate file.
        cert_path: PathBuf,
        /// The key file.
        key_path: PathBuf,
        /// rustls's reason.
        #[source]
        source: rustls::Error,
    },
    /// A [`Trust`] with no certificate trusts nobody.
    #[error("no trusted certificate given: such a trust accepts nobody")]
    EmptyTrust,
    /// rustls refused the configuration (a bad certificate or key, or a CA certificate it
    /// cannot parse).
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
    /// A CA-based verifier could not be built.
    #[error("cannot build the certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The crypto provider lacks the cipher suite QUIC needs for its initial packets (cannot
    /// happen with ring, kept so that no `expect` is needed).
    #[error("unusable crypto provider: {0}")]
    NoInitialCipherSuite(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
    /// [`TransportSettings::idle_timeout`] is beyond what QUIC can express.
    #[error("idle timeout too large: {0}")]
    IdleTimeout(#[from] quinn::VarIntBoundsExceeded),
    /// [`TransportSettings::keep_alive`] must be shorter than the idle timeout, or an idle but
    /// healthy connection would time out.
    #[error(
        "keep-alive interval {keep_alive:?} is not shorter than the idle timeout {idle_timeout:?}"
    )]
    KeepAliveTooLong {
        /// The keep-alive interval.
        keep_alive: Duration,
        /// The idle timeout.
        idle_timeout: Duration,
    },
}

/// A certificate chain and its private key: what an endpoint shows to prove who it is.
///
/// `Debug` never shows the key.
#[derive(Debug)]
pub struct Identity {
    /// The end-entity certificate first, then any intermediates.
    pub certs: Vec<CertificateDer<'static>>,
    /// The private key of the first certificate.
    pub key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Self {
            certs: self.certs.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl Identity {
    /// A fresh key pair and a self-signed certificate for `names` (DNS names or IP addresses),
    /// [`SERVER_NAME`] and `127.0.0.1`; valid for all time (rcgen's default), as it is meant to
    /// be pinned rather than checked by a CA.
    ///
    /// # Errors
    ///
    /// [`TlsError::Generate`] if a name is not a valid DNS name or IP address.
    ///
    /// ```
    /// use rivulet::remote::transport::Identity;
    ///
    /// let id = Identity::self_signed(vec!["worker.example".into()]).unwrap();
    /// assert_eq!(id.certs.len(), 1);
    /// assert!(Identity::self_signed(vec!["wörker".into()]).is_err()); // DNS names are ASCII
    /// ```
    pub fn self_signed(names: impl Into<Vec<String>>) -> Result<Self, TlsError> {
        let mut all: Vec<String> = names.into();
        for name in DEFAULT_NAMES {
            if !all.iter().any(|n| n == name) {
                all.push(name.to_owned());
            }
        }
        let certified = rcgen::generate_simple_self_signed(all)?;
        let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        Ok(Self {
            certs: vec![certified.cert.der().clone()],
            key,
        })
    }

    /// Loads a certificate chain and its private key from PEM files (they may be the same file).
    ///
    /// # Errors
    ///
    /// A [`TlsError`] naming the file when a file is missing or unreadable ([`TlsError::Pem`]),
    /// holds no certificate or no key, or when the key does not belong to the certificate
    /// ([`TlsError::KeyMismatch`]).
    ///
    /// ```no_run
    /// let id = rivulet::remote::transport::Identity::from_pem_files("certs/worker.pem", "certs/worker.key.pem")?;
    /// # Ok::<(), rivulet::remote::transport::TlsError>(())
    /// ```
    pub fn from_pem_files(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let (cert_path, key_path) = (cert_path.as_ref(), key_path.as_ref());
        let certs = load_certs(cert_path)?;
        let key = PrivateKeyDer::from_pem_file(key_path).map_err(|source| match source {
            rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey {
                path: key_path.to_owned(),
            },
            source => TlsError::Pem {
                path: key_path.to_owned(),
                source,
            },
        })?;
        // Check now, so that the error names both files rather than surfacing later from rustls.
        rustls::sign::CertifiedKey::from_der(certs.clone(), key.clone_key(), &provider()).map_err(
            |source| TlsError::KeyMismatch {
                cert_path: cert_path.to_owned(),
                key_path: key_path.to_owned(),
                source,
            },
        )?;
        Ok(Self { certs, key })
    }

    /// A [`Trust`] that pins this identity's end-entity certificate.
    ///
    /// ```
    /// use rivulet::remote::transport::{Identity, Trust};
    /// let id = Identity::self_signed(Vec::new()).unwrap();
    /// assert!(matches!(id.trust_pinned(), Trust::Pinned(certs) if certs.len() == 1));
    /// ```
    pub fn trust_pinned(&self) -> Trust {
        Trust::Pinned(self.certs.iter().take(1).cloned().collect())
    }
}

/// Whom an endpoint believes: the certificates it accepts from its peer.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Exactly these end-entity certificates, compared byte for byte. The peer's signature is
    /// still checked (it must hold the key), but not its names, dates or issuer.
    Pinned(Vec<CertificateDer<'static>>),
    /// Certificates issued by these CAs (and valid now, and, for a server, for the name the
    /// client connects to: [`SERVER_NAME`]).
    Ca(Vec<CertificateDer<'static>>),
}

impl Trust {
    /// Trusts the CA certificates in a PEM file.
    ///
    /// # Errors
    ///
    /// [`TlsError::Pem`] or [`TlsError::NoCertificates`], naming the file.
    ///
    /// ```no_run
    /// let trust = rivulet::remote::transport::Trust::ca_from_pem_file("certs/ca.pem")?;
    /// # Ok::<(), rivulet::remote::transport::TlsError>(())
    /// ```
    pub fn ca_from_pem_file(path: impl AsRef<Path>) -> Result<Self, TlsError> {
        load_certs(path.as_ref()).map(Self::Ca)
    }

    /// Pins the certificates in a PEM file.
    ///
    /// # Errors
    ///
    /// [`TlsError::Pem`] or [`TlsError::NoCertificates`], naming the file.
    ///
    /// ```no_run
    /// let trust = rivulet::remote::transport::Trust::pinned_from_pem_file("certs/worker.pem")?;
    /// # Ok::<(), rivulet::remote::transport::TlsError>(())
    /// ```
    pub fn pinned_from_pem_file(path: impl AsRef<Path>) -> Result<Self, TlsError> {
        load_certs(path.as_ref()).map(Self::Pinned)
    }

    fn certs(&self) -> &[CertificateDer<'static>] {
        match self {
            Self::Pinned(certs) | Self::Ca(certs) => certs,
        }
    }

    fn root_store(certs: &[CertificateDer<'static>]) -> Result<Arc<RootCertStore>, TlsError> {
        let mut roots = RootCertStore::empty();
        for cert in certs {
            roots.add(cert.clone())?;
        }
        Ok(Arc::new(roots))
    }
}

/// QUIC transport settings shared by workers and clients.
///
/// The defaults are chosen for a cluster on one machine or one network:
///
/// - `keep_alive` 500 ms and `idle_timeout` 3 s: a lost worker (killed, or its host gone) sends
///   nothing more, and its connection is given up within about 3 s so that its items are run
///   elsewhere; a healthy worker whose runtime stalls for a second or two (a long task on a
///   runtime thread, a busy machine) is not. The keep-alives keep an idle connection open; six
///   fit in one timeout, so a few lost packets do not kill it. A link lost anyway is dialled
///   again, and a worker that does not answer a request within the client's request timeout
///   is given up on too.
/// - `receive_window` 4 MiB: how many bytes a peer may send ahead of what has been read, on the
///   connection's one stream and on the whole connection, so that a connection costs at most
///   that much buffer whatever the peer does (values travel in 1 MiB pieces, so it is enough).
///
/// Streams are not a setting: the protocol uses one bidirectional stream per connection, opened
/// by the client, so a worker lets a client open exactly one and a client lets a worker open
/// none (quinn would otherwise reserve buffers for thousands a stranger may open).
///
/// Each endpoint applies its own settings; QUIC uses the smaller idle timeout of the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportSettings {
    /// How often to send a keep-alive when nothing else is sent. Must be below `idle_timeout`.
    pub keep_alive: Duration,
    /// How long a silent connection lives before it is given up.
    pub idle_timeout: Duration,
    /// How many bytes the peer may send ahead of what has been read.
    pub receive_window: u32,
}

impl Default for TransportSettings {
    fn default() -> Self {
        Self {
            keep_alive: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(3),
            receive_window: 4 << 20,
        }
    }
}

impl TransportSettings {
    /// The quinn transport configuration for these settings, as a client uses it: the peer (a
    /// worker) may open no stream of any kind.
    ///
    /// # Errors
    ///
    /// [`TlsError::KeepAliveTooLong`] unless `keep_alive < idle_timeout`, and
    /// [`TlsError::IdleTimeout`] for a timeout QUIC cannot express.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rivulet::remote::transport::TransportSettings;
    ///
    /// assert!(TransportSettings::default().transport_config().is_ok());
    /// let bad = TransportSettings { keep_alive: Duration::from_secs(5), ..Default::default() };
    /// assert!(bad.transport_config().is_err());
    /// ```
    pub fn transport_config(&self) -> Result<quinn::TransportConfig, TlsError> {
        self.transport_config_with_streams(0)
    }

    /// The settings for one side: how many bidirectional streams the peer may open (one on a
    /// worker, for its client; none on a client).
    fn transport_config_with_streams(
        &self,
        peer_streams: u32,
    ) -> Result<quinn::TransportConfig, TlsError> {
        if self.keep_alive >= self.idle_timeout {
            return Err(TlsError::KeepAliveTooLong {
                keep_alive: self.keep_alive,
                idle_timeout: self.idle_timeout,
            });
        }
        let mut config = quinn::TransportConfig::default();
        config
            .keep_alive_interval(Some(self.keep_alive))
            .max_idle_timeout(Some(quinn::IdleTimeout::try_from(self.idle_timeout)?))
            .max_concurrent_bidi_streams(peer_streams.into())
            .max_concurrent_uni_streams(0u32.into())
            .stream_receive_window(self.receive_window.into())
            .receive_window(self.receive_window.into());
        Ok(config)
    }
}

/// The configuration of a worker's endpoint: it shows `identity`, and when `client_auth` is
/// given, requires every client to present a certificate that this trust accepts.
///
/// # Errors
///
/// A [`TlsError`] if the identity is unusable, the trust is empty, or the transport settings
/// are inconsistent.
///
/// ```
/// use rivulet::remote::transport::{server_config, Identity, TransportSettings};
///
/// let worker = Identity::self_signed(vec!["worker-1".into()]).unwrap();
/// let config = server_config(&worker, None, &TransportSettings::default()).unwrap();
/// # let _ = config;
/// ```
pub fn server_config(
    identity: &Identity,
    client_auth: Option<&Trust>,
    transport: &TransportSettings,
) -> Result<quinn::ServerConfig, TlsError> {
    let provider = provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let builder = match client_auth {
        None => builder.with_no_client_auth(),
        Some(trust @ Trust::Pinned(_)) => {
            builder.with_client_cert_verifier(Arc::new(PinnedVerifier::new(trust, &provider)?))
        }
        Some(Trust::Ca(certs)) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(
                Trust::root_store(certs)?,
                provider.clone(),
            )
            .build()?,
        ),
    };
    let mut crypto = builder.with_single_cert(identity.certs.clone(), identity.key.clone_key())?;
    crypto.alpn_protocols = vec![proto::ALPN.to_vec()];
    // A worker that takes clients by certificate takes nothing else: a peer has none to show.
    if client_auth.is_none() {
        crypto.alpn_protocols.push(proto::PEER_ALPN.to_vec());
    }
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(crypto)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport.transport_config_with_streams(1)?));
    Ok(config)
}

/// The configuration of a client's endpoint: it believes workers that `trust` accepts, and
/// shows `client_identity` to workers that ask for a certificate.
///
/// Connect with the server name [`SERVER_NAME`].
///
/// # Errors
///
/// A [`TlsError`] if the trust is empty or holds a certificate rustls cannot parse, the identity
/// is unusable, or the transport settings are inconsistent.
///
/// ```
/// use rivulet::remote::transport::{client_config, Identity, TransportSettings};
///
/// let worker = Identity::self_signed(vec!["worker-1".into()]).unwrap();
/// let config = client_config(&worker.trust_pinned(), None, &TransportSettings::default()).unwrap();
/// # let _ = config;
/// ```
pub fn client_config(
    trust: &Trust,
    client_identity: Option<&Identity>,
    transport: &TransportSettings,
) -> Result<quinn::ClientConfig, TlsError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let builder = match trust {
        Trust::Pinned(_) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier::new(trust, &provider)?)),
        Trust::Ca(certs) => builder.with_webpki_verifier(
            WebPkiServerVerifier::builder_with_provider(
                Trust::root_store(certs)?,
                provider.clone(),
            )
            .build()?,
        ),
    };
    let mut crypto = match client_identity {
        None => builder.with_no_client_auth(),
        Some(id) => builder.with_client_auth_cert(id.certs.clone(), id.key.clone_key())?,
    };
    crypto.alpn_protocols = vec![proto::ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(crypto)?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport.transport_config()?));
    Ok(config)
}

/// The configuration with which a worker pulls values from another: it believes exactly the
/// certificate `holder` (DER, as the client saw it), speaks [`proto::PEER_ALPN`], and shows no
/// certificate of its own (the capability is its proof).
///
/// # Errors
///
/// A [`TlsError`] if the transport settings are inconsistent.
///
/// ```
/// use rivulet::remote::transport::{peer_client_config, Identity, TransportSettings};
///
/// let holder = Identity::self_signed(vec!["worker-2".into()]).unwrap();
/// let config = peer_client_config(holder.certs[0].as_ref(), &TransportSettings::default()).unwrap();
/// # let _ = config;
/// ```
pub fn peer_client_config(
    holder: &[u8],
    transport: &TransportSettings,
) -> Result<quinn::ClientConfig, TlsError> {
    let provider = provider();
    let trust = Trust::Pinned(vec![CertificateDer::from(holder.to_vec())]);
    let mut crypto = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedVerifier::new(&trust, &provider)?))
        .with_no_client_auth();
    crypto.alpn_protocols = vec![proto::PEER_ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(crypto)?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport.transport_config()?));
    Ok(config)
}

/// The one crypto provider rivulet uses, independent of any process-wide default.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |source| TlsError::Pem {
        path: path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificates {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// Accepts exactly the pinned end-entity certificates, on either side of a connection.
///
/// Certificates are compared by their DER bytes, so a pinned worker need not be (or be signed
/// by) a CA; the handshake signature is still verified, so the peer must hold the key.
#[derive(Debug)]
struct PinnedVerifier {
    pinned: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedVerifier {
    fn new(trust: &Trust, provider: &CryptoProvider) -> Result<Self, TlsError> {
        let pinned = trust.certs().to_vec();
        if pinned.is_empty() {
            return Err(TlsError::EmptyTrust);
        }
        Ok(Self {
            pinned,
            algorithms: provider.signature_verification_algorithms,
        })
    }

    fn check(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            Ok(())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(NotPinned {
                    pinned: self.pinned.len(),
                })),
            )))
        }
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ClientCertVerifier for PinnedVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The reason a pinned verifier gives for a certificate it does not know.
///
/// rustls shows it with `Debug` inside its own message, so `Debug` prints the sentence.
struct NotPinned {
    pinned: usize,
}

impl fmt::Display for NotPinned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the certificate presented is not one of the {} pinned certificate(s)",
            self.pinned
        )
    }
}

impl fmt::Debug for NotPinned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for NotPinned {}
