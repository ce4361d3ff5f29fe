//! Makes the certificates for workers started by hand: a CA, a worker certificate it signs, and
//! a client certificate it signs (for workers that require client certificates).
//!
//! ```text
//! cargo run --example make_certs -- DIR [NAME ...]
//! ```
//!
//! writes into DIR (created if needed; existing files are never overwritten):
//!
//! - `ca.pem`: the CA certificate. Clients trust it (`Trust::ca_from_pem_file`), and so do
//!   workers that check client certificates.
//! - `worker.pem`, `worker.key.pem`: the worker's certificate, for `localhost`, `127.0.0.1` and
//!   every NAME given (DNS names or IP addresses), and its key (`Identity::from_pem_files`).
//! - `client.pem`, `client.key.pem`: a client certificate and its key.
//!
//! The CA's own key is not written: to issue more certificates, run this again into a new
//! directory. Keys are written readable by their owner only (on Unix).

use std::error::Error;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

const USAGE: &str = "usage: make_certs DIR [NAME ...]\n\
    writes ca.pem, worker.pem, worker.key.pem, client.pem and client.key.pem into DIR;\n\
    the worker certificate is for localhost, 127.0.0.1 and every NAME";

fn main() {
    if let Err(e) = run() {
        eprintln!("make_certs: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let dir = match args.next() {
        Some(arg) if arg == "-h" || arg == "--help" => {
            println!("{USAGE}");
            return Ok(());
        }
        Some(dir) => PathBuf::from(dir),
        None => return Err(USAGE.into()),
    };
    let mut worker_names = vec![
        rivulet::remote::transport::SERVER_NAME.to_owned(),
        "127.0.0.1".to_owned(),
    ];
    for name in args {
        if !worker_names.contains(&name) {
            worker_names.push(name);
        }
    }

    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let files = [
        "ca.pem",
        "worker.pem",
        "worker.key.pem",
        "client.pem",
        "client.key.pem",
    ];
    for file in files {
        let path = dir.join(file);
        if path.exists() {
            return Err(format!(
                "{} exists already; not overwriting anything",
                path.display()
            )
            .into());
        }
    }

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "rivulet CA");
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let ca = Issuer::new(ca_params, ca_key);

    let (worker_cert, worker_key) = issue(
        &ca,
        worker_names.clone(),
        "rivulet worker",
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let (client_cert, client_key) = issue(
        &ca,
        vec!["rivulet-client".to_owned()],
        "rivulet client",
        ExtendedKeyUsagePurpose::ClientAuth,
    )?;

    write(
        &dir,
        "ca.pem",
        &ca_cert.pem(),
        false,
        "the CA certificate: clients (and workers checking client certificates) trust it",
    )?;
    write(
        &dir,
        "worker.pem",
        &worker_cert,
        false,
        &format!("the worker certificate, for {}", worker_names.join(", ")),
    )?;
    write(
        &dir,
        "worker.key.pem",
        &worker_key,
        true,
        "the worker's private key",
    )?;
    write(
        &dir,
        "client.pem",
        &client_cert,
        false,
        "a client certificate",
    )?;
    write(
        &dir,
        "client.key.pem",
        &client_key,
        true,
        "the client's private key",
    )?;
    Ok(())
}

/// A certificate for `names` signed by `ca`, and its key, both in PEM.
fn issue(
    ca: &Issuer<'_, KeyPair>,
    names: Vec<String>,
    common_name: &str,
    usage: ExtendedKeyUsagePurpose,
) -> Result<(String, String), Box<dyn Error>> {
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn write(
    dir: &Path,
    name: &str,
    contents: &str,
    secret: bool,
    what: &str,
) -> Result<(), Box<dyn Error>> {
    let path = dir.join(name);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options
        .open(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {}: {what}", path.display());
    Ok(())
}
