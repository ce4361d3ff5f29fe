//! `RemoteStream::rate_limit`: at least `dur` between items, with back-pressure.

use std::time::Duration;

use futures::StreamExt;

use crate::StreamzExt;
use crate::remote::client::{Portable, RemoteStream};

impl<T: Portable> RemoteStream<T> {
    /// At least `dur` between items, as [`StreamzExt::rate_limit`] does (streamz's
    /// `rate_limit`): back-pressure, never drops; while it waits it pulls nothing upstream, so
    /// no more tasks are submitted. The timing is local, the values stay on their workers.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// use std::time::{Duration, Instant};
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = rivulet::Client::local(2).await?;
    /// let start = Instant::now();
    /// let out: Vec<_> = futures::stream::iter(0..3_i64)
    ///     .scatter(&client)
    ///     .rate_limit(Duration::from_millis(20))
    ///     .gather()
    ///     .collect()
    ///     .await;
    /// assert_eq!(out, vec![Ok(0), Ok(1), Ok(2)]);
    /// assert!(start.elapsed() >= Duration::from_millis(40));
    /// # Ok(())
    /// # }
    /// ```
    pub fn rate_limit(self, dur: Duration) -> RemoteStream<T> {
        let items = StreamzExt::rate_limit(self.items, dur).boxed();
        Self::with(self.client, items)
    }
}
