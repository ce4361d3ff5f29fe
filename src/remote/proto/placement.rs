//! Where the next value goes: the worker with the least work queued, by its recent task times.
//!
//! With up to [`SAMPLE_ABOVE`] workers every one is looked at ([`choose_worker`]): the least
//! expected wait wins, round-robin among equals. With more, [`choose_placement`] looks at two
//! workers drawn at random and takes the better ("the power of two choices"): a constant cost
//! per item however large the fleet, and a balance close to looking at all of them (the most
//! loaded worker's excess grows as log log n instead of log n for one random choice).
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

/// Above this many workers, placement looks at two random ones instead of all of them.
pub const SAMPLE_ABOVE: usize = 16;

/// How many draws [`choose_placement`] makes to find two workers that can take work, before
/// it looks at all of them (most are gone or draining).
const DRAWS: usize = 8;

/// The worker for the next value among `candidates`, whose [`Load`] `load` gives (`None` for
/// one that takes no work: lost or draining). Up to [`SAMPLE_ABOVE`] candidates, this is
/// [`choose_worker`] over all of them; above, the better of two drawn at random from `salt`
/// (any number that changes from one call to the next), so its cost does not grow with the
/// fleet.
///
/// ```
/// use rivulet::remote::proto::{Load, choose_placement};
///
/// let load = |outstanding| Load { outstanding, task_time_ns: 1_000, scattered: 0 };
/// // 1,000 workers, all busy but one idle and one gone.
/// let mut fleet: Vec<Option<Load>> = (0..1000).map(|_| Some(load(5))).collect();
/// fleet[10] = Some(load(0));
/// fleet[20] = None;
/// let mut picks = std::collections::HashSet::new();
/// for salt in 0..5000 {
///     let chosen = choose_placement(&fleet, salt, |l| *l).unwrap();
///     let index = fleet.iter().position(|c| std::ptr::eq(c, chosen)).unwrap();
///     assert_ne!(index, 20, "a gone worker gets nothing");
///     picks.insert(index);
/// }
/// // Random draws spread the work over the fleet.
/// assert!(picks.len() > 900);
/// ```
pub fn choose_placement<T>(
    candidates: &[T],
    salt: u64,
    load: impl Fn(&T) -> Option<Load>,
) -> Option<&T> {
    if candidates.len() <= SAMPLE_ABOVE {
        return choose_worker(candidates.iter().filter_map(|c| load(c).map(|l| (c, l))));
    }
    let mut state = salt;
    let mut best: Option<(&T, Load)> = None;
    let mut found = 0;
    for _ in 0..DRAWS {
        let index = (splitmix64(&mut state) % candidates.len() as u64) as usize;
        let candidate = &candidates[index];
        let Some(candidate_load) = load(candidate) else {
            continue;
        };
        let better = best.is_none_or(|(_, held)| {
            (candidate_load.expected_wait(), candidate_load.scattered)
                < (held.expected_wait(), held.scattered)
        });
        if better {
            best = Some((candidate, candidate_load));
        }
        found += 1;
        if found == 2 {
            break;
        }
    }
    match best {
        Some((chosen, _)) => Some(chosen),
        // Every draw hit a worker that takes no work: look at all of them.
        None => choose_worker(candidates.iter().filter_map(|c| load(c).map(|l| (c, l)))),
    }
}

/// SplitMix64: a well-mixed number from a counter, and the counter moved on.
pub(super) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle(scattered: u64) -> Option<Load> {
        Some(Load {
            outstanding: 0,
            task_time_ns: 1_000,
            scattered,
        })
    }

    #[test]
    fn small_fleets_look_at_every_worker() {
        let fleet: Vec<Option<Load>> = (0..SAMPLE_ABOVE as u64).map(|i| idle(100 - i)).collect();
        // The one given the fewest values, whatever the salt.
        for salt in 0..100 {
            let chosen = choose_placement(&fleet, salt, |l| *l).unwrap();
            assert_eq!(chosen.unwrap().scattered, 100 - SAMPLE_ABOVE as u64 + 1);
        }
    }

    #[test]
    fn a_fleet_of_gone_workers_but_one_still_finds_it() {
        let mut fleet: Vec<Option<Load>> = vec![None; 1000];
        fleet[777] = idle(0);
        for salt in 0..50 {
            let chosen = choose_placement(&fleet, salt, |l| *l).unwrap();
            assert!(std::ptr::eq(chosen, &fleet[777]));
        }
        assert!(choose_placement(&vec![None::<Load>; 1000], 1, |l| *l).is_none());
    }

    #[test]
    fn two_choices_keep_a_large_fleet_balanced() {
        // 1,000 workers, 100,000 values, each staying outstanding: the most loaded worker ends
        // close to the mean (100), as two choices promise, far below one random choice's.
        let mut outstanding = vec![0usize; 1000];
        for salt in 0..100_000u64 {
            let loads: Vec<Option<Load>> = outstanding
                .iter()
                .map(|&n| {
                    Some(Load {
                        outstanding: n,
                        task_time_ns: 1_000,
                        scattered: n as u64,
                    })
                })
                .collect();
            let chosen = choose_placement(&loads, salt, |l| *l).unwrap();
            let index = loads.iter().position(|c| std::ptr::eq(c, chosen)).unwrap();
            outstanding[index] += 1;
        }
        let max = *outstanding.iter().max().unwrap();
        let min = *outstanding.iter().min().unwrap();
        assert!(max <= 105 && min >= 95, "min {min}, max {max}");
    }
}
