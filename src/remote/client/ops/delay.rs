//! `RemoteStream::delay`: each item let out `dur` after it came, its value staying where it is.

use std::time::Duration;

use futures::StreamExt;

use crate::StreamzExt;
use crate::remote::client::{Portable, RemoteStream};

impl<T: Portable> RemoteStream<T> {
    /// Lets each item out `dur` after it came in, keeping order, as [`StreamzExt::delay`] does
    /// (streamz's `delay`, as a true delay): the timing is local, the values stay on their
    /// workers (their tasks run meanwhile).
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use std::time::{Duration, Instant};
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let start = Instant::now();
    /// let out: Vec<_> = futures::stream::iter(vec![1_i64, 2])
    ///     .scatter(&client)
    ///     .delay(Duration::from_millis(50))
    ///     .gather()
    ///     .collect()
    ///     .await;
    /// assert_eq!(out, vec![Ok(1), Ok(2)]);
    /// assert!(start.elapsed() >= Duration::from_millis(50));
    /// # Ok(())
    /// # }
    /// ```
    pub fn delay(self, dur: Duration) -> RemoteStream<T> {
        let items = StreamzExt::delay(self.items, dur).boxed();
        Self::with(self.client, items)
    }
}
