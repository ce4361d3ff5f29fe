//! Where the next value goes: the worker with the least work queued, by its recent task times.
//!
//! ```
//! use std::time::Duration;
//! use rivulet::remote::proto::{Load, choose_worker};
//!
//! let idle = Load { outstanding: 0, task_time_ns: 1_000, scattered: 5 };
//! let busy = Load { outstanding: 3, task_time_ns: 1_000, scattered: 1 };
//! let fresh = Load { outstanding: 0, task_time_ns: 1_000, scattered: 2 };
//! // Among idle workers, the one that was given the fewest values wins: round-robin.
//! assert_eq!(choose_worker([("a", idle), ("b", busy), ("c", fresh)]), Some("c"));
//!
//! let average = Load::next_task_time(8_000, Duration::from_nanos(16_000));
//! assert_eq!(average, 9_000);
//! ```

use std::time::Duration;

/// The task time assumed for a worker before any of its tasks has finished.
pub const INITIAL_TASK_TIME: Duration = Duration::from_micros(100);

/// What placement knows of one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// Requests sent to it and not answered.
    pub outstanding: usize,
    /// A moving average of how long its tasks take, request to reply, in nanoseconds.
    pub task_time_ns: u64,
    /// How many values were scattered to it: the tie-breaker that makes placement round-robin.
    pub scattered: u64,
}

impl Load {
    /// How long the work already queued there will take: outstanding requests times the
    /// worker's task time. Idle workers all score zero and share the work round-robin.
    pub fn expected_wait(&self) -> u128 {
        self.outstanding as u128 * u128::from(self.task_time_ns)
    }

    /// The moving average of task times after one more task took `sample`: an exponential
    /// average over about eight tasks, never zero.
    pub fn next_task_time(old_ns: u64, sample: Duration) -> u64 {
        let sample = u64::try_from(sample.as_nanos()).unwrap_or(u64::MAX);
        (old_ns - old_ns / 8).saturating_add(sample / 8).max(1)
    }
}

/// The candidate with the least expected wait, the fewest values scattered among equals, and
/// the first among those; `None` if there is none.
pub fn choose_worker<T>(candidates: impl IntoIterator<Item = (T, Load)>) -> Option<T> {
    candidates
        .into_iter()
        .min_by_key(|(_, load)| (load.expected_wait(), load.scattered))
        .map(|(worker, _)| worker)
}
