//! A batch holding one item per key: the core of `partition_unique` and `timed_window_unique`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;

use super::Keep;

/// Items in arrival order, at most one per key; which one wins is [`Keep`]'s call.
#[derive(Debug)]
pub(crate) struct UniqueBatch<K, T> {
    keep: Keep,
    /// The batch in arrival order. With [`Keep::Last`] a replaced item leaves a `None` behind
    /// instead of shifting everything after it.
    slots: Vec<Option<T>>,
    /// Each key of the batch and the index of its item in `slots`.
    index: HashMap<K, usize>,
}

impl<K: Hash + Eq, T> UniqueBatch<K, T> {
    pub(crate) fn new(keep: Keep) -> Self {
        UniqueBatch {
            keep,
            slots: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Adds `x` under `key`; returns how many distinct keys the batch now holds.
    pub(crate) fn insert(&mut self, key: K, x: T) -> usize {
        match (self.index.entry(key), self.keep) {
            (Entry::Occupied(_), Keep::First) => {}
            (Entry::Occupied(mut at), Keep::Last) => {
                // As in streamz, the newest item with a key moves to the end of the batch.
                self.slots[*at.get()] = None;
                *at.get_mut() = self.slots.len();
                self.slots.push(Some(x));
                if self.slots.len() >= 2 * self.index.len().max(1) {
                    self.compact();
                }
            }
            (Entry::Vacant(at), _) => {
                at.insert(self.slots.len());
                self.slots.push(Some(x));
            }
        }
        self.index.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Empties the batch, keeping both buffers' capacity for the next one.
    pub(crate) fn take(&mut self) -> Vec<T> {
        let mut batch = Vec::with_capacity(self.index.len());
        batch.extend(self.slots.drain(..).flatten());
        self.index.clear();
        batch
    }

    /// The items, in batch order, without taking them.
    pub(crate) fn items(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }

    /// Drops the holes [`Keep::Last`] leaves in `slots`. It runs once `slots` reaches twice the
    /// live items, so at least as many pushes separate two runs: O(1) per item amortised, and
    /// `slots` stays below twice the batch however often keys repeat.
    fn compact(&mut self) {
        let mut new_position = Vec::with_capacity(self.slots.len());
        let mut live = 0;
        for slot in &self.slots {
            new_position.push(live);
            live += usize::from(slot.is_some());
        }
        for at in self.index.values_mut() {
            *at = new_position[*at];
        }
        self.slots.retain(Option::is_some);
    }
}
