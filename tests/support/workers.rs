//! In-process workers on loopback, each on its own thread, for tests that need to stop one.

use rivulet::remote::transport::{Identity, Trust};
use rivulet::worker::{Worker, WorkerAuth, WorkerConfig};

/// `n` workers with `slots` slots each, taking clients that prove `secret`, and the trust
/// that pins their certificates.
pub(crate) fn in_process(n: usize, slots: usize, secret: &[u8]) -> (Vec<Worker>, Trust) {
    let mut certs = Vec::new();
    let workers = (0..n)
        .map(|_| {
            let identity = Identity::self_signed(vec!["localhost".to_owned()]).unwrap();
            certs.extend(identity.certs.iter().cloned());
            Worker::spawn(
                WorkerConfig::new(identity, WorkerAuth::Secret(secret.to_vec())).slots(slots),
            )
            .unwrap()
        })
        .collect();
    (workers, Trust::Pinned(certs))
}
