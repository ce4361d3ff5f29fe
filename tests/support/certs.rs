//! Certificates for tests: a CA, certificates it issues, and a temporary directory for PEM files.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rivulet::remote::transport::Identity;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A CA certificate in DER and PEM, and the issuer that signs with it.
pub(crate) fn make_ca_pem() -> (CertificateDer<'static>, String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    // A name of its own, so that another test CA is a stranger (UnknownIssuer), not an impostor.
    static CAS: AtomicUsize = AtomicUsize::new(0);
    let name = format!("rivulet test CA {}", CAS.fetch_add(1, Ordering::Relaxed));
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.der().clone(), cert.pem(), Issuer::new(params, key))
}

/// A CA certificate and the issuer that signs with it.
pub(crate) fn make_ca() -> (CertificateDer<'static>, Issuer<'static, KeyPair>) {
    let (der, _, issuer) = make_ca_pem();
    (der, issuer)
}

/// A certificate for `names` signed by `issuer`, with its key, as an identity and as PEM.
pub(crate) fn issue(
    issuer: &Issuer<'static, KeyPair>,
    names: &[&str],
) -> (Identity, String, String) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let params = CertificateParams::new(names).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    let identity = Identity {
        certs: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    };
    (identity, cert.pem(), key.serialize_pem())
}

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("rivulet-{tag}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub(crate) fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
