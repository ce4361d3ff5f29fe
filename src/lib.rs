//! # rivulet: reactive stream pipelines in the spirit of streamz
//!
//! rivulet brings the operators of Python's [streamz] (windows, joins, time, back-pressure) to
//! plain [`futures::Stream`]s, and runs heavy work on worker processes over QUIC the way streamz
//! runs it on Dask.
//!
//! ## A first pipeline
//!
//! A [`Source`] is the head of a pipeline: you [`emit`](Source::emit) values into it, and each
//! [`stream`](Source::stream) subscribed to it is an ordinary `futures::Stream`. The operators
//! of [`StreamzExt`] and [`futures::StreamExt`] build on it (the [`prelude`] brings both), and a
//! sink such as [`sink_to_list`](StreamzExt::sink_to_list) spawns the pipeline on the current
//! tokio runtime:
//!
//! ```
//! use rivulet::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let source = Source::new();
//! let totals = source
//!     .stream()
//!     .map(|x: i64| x + 1)
//!     .retain(|x| x % 2 == 0)
//!     .sink_to_list();
//!
//! for x in 0..6 {
//!     source.emit(x).await.unwrap();
//! }
//! // `emit` waits until the sink has taken the item and come back for the next, so the list is
//! // up to date as soon as it returns: streamz's synchronous semantics.
//! assert_eq!(totals.snapshot(), vec![2, 4, 6]);
//! # }
//! ```
//!
//! ## Back-pressure
//!
//! `emit(x).await` resolves once every subscriber has taken `x` **and come back for the next
//! item**. With no buffer in the pipeline, that means `x` was fully processed. A
//! [`buffer(n)`](StreamzExt::buffer) stage lets up to `n` items run ahead of a slow consumer,
//! [`Source::with_capacity`] lets `n` items queue at the source, and operators that hold items
//! on purpose (time windows, [`latest`](StreamzExt::latest)) take an item and come back at once.
//!
//! ## Several consumers
//!
//! Subscribe several times to a source, or [`share`](StreamzExt::share) any stream: every branch
//! sees every item, and the slowest branch sets the pace.
//!
//! ## Beside tokio-stream
//!
//! tokio-stream's wrappers (`ReceiverStream`, `IntervalStream`, `BroadcastStream`, ...) are
//! plain `futures::Stream`s, so every operator here applies to them. Its `StreamExt` trait,
//! though, has the same method names as `futures::StreamExt` (`map`, `filter`, `next`, ...):
//! with both traits in scope, calling one of them is ambiguous, `error[E0034]: multiple
//! applicable items in scope`:
//!
//! ```compile_fail,E0034
//! use rivulet::prelude::*; // brings futures::StreamExt
//! use tokio_stream::StreamExt as _;
//! # fn f() {
//! let doubled = futures::stream::iter([1, 2, 3]).map(|x| x * 2); // error[E0034]
//! # }
//! ```
//!
//! Keep the [`prelude`] (or `futures::StreamExt`) in scope and leave tokio-stream's trait out;
//! for a method only tokio-stream has (`timeout`, `chunks_timeout`, ...), call it by its trait's
//! path:
//!
//! ```
//! use std::time::Duration;
//!
//! use rivulet::prelude::*;
//! use tokio_stream::wrappers::ReceiverStream;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (tx, rx) = tokio::sync::mpsc::channel(8);
//! let evens = ReceiverStream::new(rx).map(|x: i64| x * 2).retain(|x| x % 4 == 0);
//! let bounded = tokio_stream::StreamExt::timeout(evens, Duration::from_secs(5));
//! let list = bounded.map(|x| x.expect("in time")).sink_to_list();
//! for x in 0..4 {
//!     tx.send(x).await.unwrap();
//! }
//! drop(tx);
//! assert_eq!(list.await.unwrap(), vec![0, 4]);
//! # }
//! ```
//!
//! ## Errors
//!
//! A panicking closure ends its pipeline with an [`Error`] that carries the panic message,
//! reported by the [`SinkHandle`] that drives it; the other pipelines keep running.
//!
#![cfg_attr(
    feature = "remote",
    doc = r#"## Distributed streams

[`scatter`](StreamzExt::scatter) sends each item to a worker of a [`Client`] and gives a
[`RemoteStream`], on which [remote functions](macro@remote) run where the data lives;
[`buffered(n)`](RemoteStream::buffered) keeps `n` items in flight and
[`gather`](RemoteStream::gather) brings the values back, in order, as a local stream of
`Result<T, TaskError>`. `Client::local(n)` starts `n` in-process workers, each a real QUIC
endpoint with its own certificate; [`worker`] runs them as child processes or on other
machines.

```
use rivulet::prelude::*;

#[rivulet::remote]
fn inc(x: i64) -> i64 {
    x + 1
}

# #[tokio::main]
# async fn main() -> Result<(), Box<dyn std::error::Error>> {
let client = rivulet::Client::local(2).await?;
let source = Source::new();
let results = source.stream().scatter(&client).map(inc).buffered(8).gather().sink_to_list();
for x in 0..10 {
    source.emit(x).await?;
}
source.close();
let values: Vec<i64> = results.await?.into_iter().collect::<Result<_, _>>()?;
assert_eq!(values, (1..=10).collect::<Vec<_>>());
# Ok(())
# }
```

A `RemoteStream` yields handles to values elsewhere, so it is deliberately not a
`futures::Stream`. Passing it where a local stream of values is expected (streamz's
documented gotcha) is a compile error whose message says to call `.gather()`:

```compile_fail
use rivulet::prelude::*;
# async fn f(client: rivulet::Client) {
let local = futures::stream::iter(vec![1_i64, 2]);
let remote = futures::stream::iter(vec![3_i64, 4]).scatter(&client);
let zipped = local.zip_with(remote); // `RemoteStream<i64>` is not a local stream of values
# }
```

and so is using a local-only operator on it:

```compile_fail
use rivulet::prelude::*;
# async fn f(client: rivulet::Client) {
let remote = futures::stream::iter(vec![1_i64, 2]).scatter(&client);
let printed = remote.sink(|x| println!("{x}")); // call `.gather()` first
# }
```

while the same pipeline with `.gather()` compiles:

```
use rivulet::prelude::*;
# async fn f(client: rivulet::Client) {
let remote = futures::stream::iter(vec![1_i64, 2]).scatter(&client);
let printed = remote.gather().sink(|x| println!("{x:?}"));
# }
```

"#
)]
#![cfg_attr(
    not(feature = "remote"),
    doc = "## Distributed streams\n\nThe distributed mode (`Client`, `RemoteStream`, workers) is behind the `remote` cargo feature, on by default; this build has the local operators alone.\n"
)]
//! ## Sources, sinks and acknowledgements
//!
//! [`sources`] starts pipelines at the world (a growing text file, a directory, TCP and HTTP
//! servers, a subprocess, a clock; MQTT, NATS JetStream and WebSocket behind the `mqtt`, `nats`
//! and `websocket` features), each a `futures::Stream` of `Result<Item, SourceError>` that reads
//! no faster than it is polled. [`sink_to_textfile`](StreamzExt::sink_to_textfile) and
//! [`sinks`] end them there. A source that can replay yields [`Acked<T>`]: its [`Ack`] is done
//! when the last clone is dropped, which the ordinary operators do as they finish with an item,
//! so the source commits only what the whole pipeline has finished (at-least-once).
//!
//! [streamz]: https://streamz.readthedocs.io

pub mod ack;
pub mod error;
pub mod ops;
#[cfg(feature = "remote")]
pub mod remote;
pub mod sink;
pub mod sinks;
pub mod source;
pub mod sources;
mod util;

pub use ack::{Ack, Acked};
pub use error::{Closed, Error};
pub use ops::StreamzExt;
pub use ops::{Timestamp, Windowed};
pub use ops::{combine_latest_all, combine_latest3, union, zip_all, zip3};
#[cfg(feature = "remote")]
pub use remote::registry::RemoteFn;
#[cfg(feature = "remote")]
#[doc(inline)]
pub use rivulet_macros::remote;
/// serde, as rivulet uses it: `#[rivulet::remote]` derives through it, and a crate that depends
/// on rivulet alone can too (`#[serde(crate = "rivulet::serde")]`).
#[cfg(feature = "remote")]
pub use serde;
pub use sink::{ListSink, SinkHandle};
pub use source::{Emit, Source, Subscription};
/// What the expansions of `#[rivulet::remote]` and `rivulet::register!` name; not an API.
#[cfg(feature = "remote")]
#[doc(hidden)]
pub mod __private {
    pub use inventory;
    pub use serde;
}
#[cfg(feature = "remote")]
pub use remote::{Client, RemoteFuture, RemoteStream, TaskError, TaskErrorKind, worker};
// @remote-exports (keep this line: remote re-exports are added above it)

/// A stream of values that live in this process: every [`futures::Stream`].
///
/// Operators that take another stream (`union`, `zip_with`, `combine_latest`, ...) bound it by
/// `LocalStream`, so that passing something that is not a local stream of values fails to
/// compile with a message that says what to do.
///
/// ```
/// fn takes_local(_: impl rivulet::LocalStream<Item = i32>) {}
/// takes_local(futures::stream::iter([1, 2, 3]));
/// ```
///
/// ```compile_fail
/// fn takes_local(_: impl rivulet::LocalStream<Item = i32>) {}
/// takes_local(vec![1, 2, 3]); // a Vec is not a stream
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a local stream of values",
    label = "this is not a local stream of values",
    note = "a `RemoteStream` yields handles to values on workers: call `.gather()` on it to bring the values back to this process"
)]
pub trait LocalStream: futures::Stream {}

impl<S: futures::Stream + ?Sized> LocalStream for S {}

/// Everything a pipeline needs: [`Source`], [`StreamzExt`] and [`futures::StreamExt`].
///
/// ```
/// use rivulet::prelude::*;
/// # futures::executor::block_on(async {
/// let v: Vec<i32> = futures::stream::iter(0..3).map(|x| x * 2).retain(|x| *x > 0).collect().await;
/// assert_eq!(v, vec![2, 4]);
/// # });
/// ```
pub mod prelude {
    #[cfg(feature = "remote")]
    pub use crate::RemoteStream;
    pub use crate::{Source, StreamzExt};
    pub use futures::StreamExt;
}
