//! More operators on [`RemoteStream`](super::RemoteStream), one per file: windows built as one
//! value on one worker, joins, local timing over remote values, and completion order.
//!
//! A window (or a pair) is a built-in task on one worker: the worker holding most of its items
//! builds it, the others are brought there first (through the client for now), and its lineage
//! is that task, so a lost worker's batch is built again elsewhere. A batch holding a failed
//! element is itself that element's `Err`: the first failure, by position.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;

use super::{Client, Link, Value};
use crate::remote::proto::{Key, TaskKind};

mod buffered_unordered;
mod combine_latest;
mod delay;
mod flatten;
mod gather_unordered;
mod latest;
mod partition;
mod rate_limit;
mod sliding_window;
mod timed_window;
mod union;
mod unique;

pub use gather_unordered::GatherUnordered;

/// The worker to build a value from `inputs` on: the live one holding most of them (the
/// earliest item's among equals), or the least loaded one if none of theirs is alive.
fn target(client: &Client, inputs: &[Arc<Value>]) -> Option<Arc<Link>> {
    let mut counts: Vec<(&Arc<Link>, usize)> = Vec::new();
    for input in inputs.iter().filter(|input| input.link.is_alive()) {
        match counts
            .iter_mut()
            .find(|(link, _)| Arc::ptr_eq(link, &input.link))
        {
            Some((_, count)) => *count += 1,
            None => counts.push((&input.link, 1)),
        }
    }
    // `max_by_key` keeps the last of equals: look from the end to keep the first.
    let best = counts.iter().rev().max_by_key(|(_, count)| *count);
    match best {
        Some((link, _)) => Some(Arc::clone(link)),
        None => client.place(),
    }
}

/// Copies of values brought to another worker, kept while they may be needed again: an item
/// is in up to `n` sliding windows, and `combine_latest` pairs one latest item many times.
#[derive(Debug, Default)]
pub(super) struct Moved {
    copies: HashMap<Key, Arc<Value>>,
}

impl Moved {
    /// `inputs`, each on `target`'s worker: itself if it is there, a copy kept from an earlier
    /// call, or a new copy (brought there concurrently). Copies of values that are not among
    /// `inputs` are let go of.
    async fn to(
        &mut self,
        client: &Client,
        inputs: &[Arc<Value>],
        target: &Arc<Link>,
    ) -> Vec<Arc<Value>> {
        let wanted: HashSet<Key> = inputs.iter().map(|input| input.key).collect();
        self.copies.retain(|key, _| wanted.contains(key));
        let moves = inputs.iter().map(|input| {
            let kept = self
                .copies
                .get(&input.key)
                .filter(|copy| Arc::ptr_eq(&copy.link, target))
                .cloned();
            async move {
                match kept {
                    Some(copy) => copy,
                    None => client.move_to(input, target).await,
                }
            }
        });
        let local = futures::future::join_all(moves).await;
        for (input, copy) in inputs.iter().zip(&local) {
            if !Arc::ptr_eq(input, copy) {
                self.copies.insert(input.key, Arc::clone(copy));
            }
        }
        local
    }
}

/// Builds one value on one worker from `inputs` with the built-in task `kind` (a zip's pair or
/// a batch's `Vec`), bringing the inputs to that worker first. If an input failed, the value is
/// the failure of the first failed input, by position. `moved` keeps copies for the next call.
pub(super) async fn build(
    client: &Client,
    kind: TaskKind,
    inputs: &[Arc<Value>],
    moved: Option<&mut Moved>,
) -> Arc<Value> {
    let Some(target) = target(client, inputs) else {
        return client
            .unplaced(crate::TaskError::new(
                crate::TaskErrorKind::NoWorkers,
                "every worker of the client is lost",
            ))
            .inherit(inputs);
    };
    if inputs.is_empty() {
        // An empty `Vec` is the same bytes whatever its type: its length, 0.
        return client.scatter_bytes(&target, Bytes::from_static(&[0]));
    }
    let local = match moved {
        Some(moved) => moved.to(client, inputs, &target).await,
        None => {
            let moves = inputs.iter().map(|input| client.move_to(input, &target));
            futures::future::join_all(moves).await
        }
    };
    // An input that could not be brought over failed here, not on the worker, which would
    // otherwise only see the failures of the others: look for the first failure in order.
    if local.iter().any(|input| input.unsent_error().is_some()) {
        for input in &local {
            if let Some(error) = input.unsent_error() {
                return client.failed_value(&target, error).inherit(inputs);
            }
            if let (_, Err(error)) = input.settled().await {
                return client.failed_value(&target, error).inherit(inputs);
            }
        }
    }
    let inputs: Vec<&Arc<Value>> = local.iter().collect();
    let (mut outputs, _) =
        client.submit_task(kind, &Arc::from(""), &Bytes::new(), &inputs, 1, true);
    outputs.swap_remove(0)
}
