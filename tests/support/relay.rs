//! A user-space UDP relay between one client and one worker, which a test can cut (every
//! datagram dropped) and restore: a lost network without netem.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A UDP relay between a client and a worker that can be cut, to play a lost worker.
pub(crate) struct Relay {
    pub(crate) addr: SocketAddr,
    pub(crate) cut: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub(crate) async fn start(target: SocketAddr) -> Self {
        let socket = Arc::new(
            tokio::net::UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .unwrap(),
        );
        let addr = socket.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let flag = cut.clone();
        let task = tokio::spawn(async move {
            let mut client: Option<SocketAddr> = None;
            let mut buf = vec![0u8; 65536];
            // Bounded: a test runs for seconds, not for ever.
            for _ in 0..100_000 {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                if flag.load(Ordering::Relaxed) {
                    continue;
                }
                let to = if from == target {
                    match client {
                        Some(c) => c,
                        None => continue,
                    }
                } else {
                    client = Some(from);
                    target
                };
                let _ = socket.send_to(&buf[..n], to).await;
            }
        });
        Self { addr, cut, task }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
