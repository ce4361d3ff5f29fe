//! How long to wait before dialling a lost worker again: doubling waits with jitter.
//!
//! Without jitter every client that lost a fleet at the same moment (a rolling restart, a
//! switch that rebooted) dials it again at the same moments, doubling in step. Each wait here is
//! drawn between half and all of the doubled step ("equal jitter"), so the dials spread out while
//! the step still grows as before.

use std::time::Duration;

use super::placement::splitmix64;

/// Doubling waits from `first` up to `max`, each drawn in `[step / 2, step]`.
///
/// ```
/// use std::time::Duration;
/// use rivulet::remote::proto::Backoff;
///
/// let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10), 7);
/// let waits: Vec<Duration> = (0..12).map(|_| backoff.next_wait()).collect();
/// // The first wait is between 50 and 100 ms, the second between 100 and 200 ms, ...
/// assert!(waits[0] >= Duration::from_millis(50) && waits[0] <= Duration::from_millis(100));
/// assert!(waits[1] >= Duration::from_millis(100) && waits[1] <= Duration::from_millis(200));
/// // ... and none is longer than the cap.
/// assert!(waits.iter().all(|wait| *wait <= Duration::from_secs(10)));
/// assert!(waits[11] >= Duration::from_secs(5));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    step: Duration,
    max: Duration,
    state: u64,
}

impl Backoff {
    /// Waits that start at `first`, double up to `max`, drawn from `seed` (any number that
    /// differs between the clients or links that should not dial in step).
    pub fn new(first: Duration, max: Duration, seed: u64) -> Self {
        Backoff {
            step: first.min(max),
            max,
            state: seed,
        }
    }

    /// The next wait, and the step doubled for the one after.
    pub fn next_wait(&mut self) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(self.max);
        let step_ns = u64::try_from(step.as_nanos()).unwrap_or(u64::MAX);
        let half = step_ns / 2;
        // `half + 1` values, so the wait can be the whole step.
        let jitter = splitmix64(&mut self.state) % (step_ns - half).saturating_add(1);
        Duration::from_nanos(half + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_within_their_bounds_and_stop_at_the_cap() {
        for seed in 0..200 {
            let mut backoff =
                Backoff::new(Duration::from_millis(100), Duration::from_secs(10), seed);
            let mut step = Duration::from_millis(100);
            for _ in 0..20 {
                let wait = backoff.next_wait();
                assert!(
                    wait >= step / 2 && wait <= step,
                    "seed {seed}: {wait:?} for {step:?}"
                );
                step = (step * 2).min(Duration::from_secs(10));
            }
        }
    }

    #[test]
    fn clients_that_lost_a_worker_together_do_not_dial_together() {
        // 100 clients with different seeds: their fifth waits (steps of 1.6 s) spread out.
        let fifth: std::collections::BTreeSet<u128> = (0..100u64)
            .map(|seed| {
                let mut backoff =
                    Backoff::new(Duration::from_millis(100), Duration::from_secs(10), seed);
                (0..4).for_each(|_| {
                    backoff.next_wait();
                });
                backoff.next_wait().as_millis()
            })
            .collect();
        assert!(fifth.len() > 80, "only {} distinct waits", fifth.len());
        let spread = fifth.last().unwrap_or(&0) - fifth.first().unwrap_or(&0);
        assert!(spread > 500, "waits spread over {spread} ms only");
    }

    #[test]
    fn a_zero_first_wait_stays_zero_and_a_tiny_one_grows() {
        let mut zero = Backoff::new(Duration::ZERO, Duration::from_secs(1), 1);
        assert_eq!(zero.next_wait(), Duration::ZERO);
        let mut tiny = Backoff::new(Duration::from_nanos(1), Duration::from_secs(1), 1);
        let waits: Vec<Duration> = (0..40).map(|_| tiny.next_wait()).collect();
        assert!(waits[39] >= Duration::from_millis(500));
    }
}
