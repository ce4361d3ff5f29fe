//! Which of several items with the same key a unique-batching operator keeps.

/// Which item wins when several with the same key meet in one batch
/// ([`partition_unique`](crate::StreamzExt), [`timed_window_unique`](crate::StreamzExt)).
///
/// ```
/// use rivulet::ops::Keep;
/// assert_ne!(Keep::First, Keep::Last);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keep {
    /// Keep the first item seen with a key; later ones are dropped.
    First,
    /// Keep the last item seen with a key; it takes the place of the earlier one and moves to
    /// the end of the batch, as in streamz.
    Last,
}
