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

/// What a [`FaultyRelay`] does to each datagram, in both directions: netem's usual figures
/// by default (5 % dropped, 5 % duplicated, each delayed 20 ms ± 10 ms, so that some overtake
/// others).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Faults {
    pub(crate) drop: f64,
    pub(crate) duplicate: f64,
    pub(crate) delay: std::time::Duration,
    pub(crate) jitter: std::time::Duration,
    pub(crate) seed: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            drop: 0.05,
            duplicate: 0.05,
            delay: std::time::Duration::from_millis(20),
            jitter: std::time::Duration::from_millis(10),
            seed: 0x5eed_f00d_2a11,
        }
    }
}

/// What a [`FaultyRelay`] did so far.
#[derive(Debug, Default)]
pub(crate) struct RelayCounts {
    pub(crate) received: std::sync::atomic::AtomicU64,
    pub(crate) dropped: std::sync::atomic::AtomicU64,
    pub(crate) duplicated: std::sync::atomic::AtomicU64,
    pub(crate) delivered: std::sync::atomic::AtomicU64,
    /// Datagrams delivered after one that was received later (overtaken).
    pub(crate) reordered: std::sync::atomic::AtomicU64,
}

impl RelayCounts {
    pub(crate) fn summary(&self) -> String {
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "{} datagrams: {} dropped, {} duplicated, {} delivered, {} overtaken",
            get(&self.received),
            get(&self.dropped),
            get(&self.duplicated),
            get(&self.delivered),
            get(&self.reordered)
        )
    }
}

/// A UDP relay between clients and one worker that drops, duplicates, delays and reorders
/// datagrams (a lossy network without netem). Each client is told apart by its address: the
/// relay answers it from its own socket. Bounded: it relays at most `MAX_DATAGRAMS`, and stops
/// when dropped.
pub(crate) struct FaultyRelay {
    pub(crate) addr: SocketAddr,
    pub(crate) counts: Arc<RelayCounts>,
    task: tokio::task::JoinHandle<()>,
}

const MAX_DATAGRAMS: u64 = 20_000_000;

/// A small deterministic generator (xorshift64*), so a run's faults can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl FaultyRelay {
    /// Relays between whoever sends to `socket` and `target`. Needs a tokio runtime context;
    /// `socket` may have been bound in another network namespace.
    pub(crate) fn start(socket: std::net::UdpSocket, target: SocketAddr, faults: Faults) -> Self {
        socket.set_nonblocking(true).unwrap();
        let socket = Arc::new(tokio::net::UdpSocket::from_std(socket).unwrap());
        let addr = socket.local_addr().unwrap();
        let counts = Arc::new(RelayCounts::default());
        let seen = Arc::clone(&counts);
        let task = tokio::spawn(async move {
            let mut rng = Rng(faults.seed.max(1));
            // Per direction: the next sequence number, and the highest delivered so far.
            let to_worker = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let to_client = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let mut sequence = [0u64; 2];
            let mut client: Option<SocketAddr> = None;
            let mut buf = vec![0u8; 65536];
            for _ in 0..MAX_DATAGRAMS {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                seen.received.fetch_add(1, Ordering::Relaxed);
                let (to, direction, highest) = if from == target {
                    match client {
                        Some(c) => (c, 1, &to_client),
                        None => continue,
                    }
                } else {
                    client = Some(from);
                    (target, 0, &to_worker)
                };
                if rng.unit() < faults.drop {
                    seen.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let copies = if rng.unit() < faults.duplicate {
                    seen.duplicated.fetch_add(1, Ordering::Relaxed);
                    2
                } else {
                    1
                };
                sequence[direction] += 1;
                let seq = sequence[direction];
                let datagram = bytes::Bytes::copy_from_slice(&buf[..n]);
                for _ in 0..copies {
                    let spread = faults.jitter.as_secs_f64() * (2.0 * rng.unit() - 1.0);
                    let delay = std::time::Duration::from_secs_f64(
                        (faults.delay.as_secs_f64() + spread).max(0.0),
                    );
                    let (socket, datagram, seen) =
                        (Arc::clone(&socket), datagram.clone(), Arc::clone(&seen));
                    let highest = Arc::clone(highest);
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        if highest.fetch_max(seq, Ordering::Relaxed) > seq {
                            seen.reordered.fetch_add(1, Ordering::Relaxed);
                        }
                        seen.delivered.fetch_add(1, Ordering::Relaxed);
                        let _ = socket.send_to(&datagram, to).await;
                    });
                }
            }
        });
        FaultyRelay { addr, counts, task }
    }
}

impl Drop for FaultyRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
