//! Delimited records from TCP clients: streamz's `from_tcp`.

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};

use super::record::{DEFAULT_MAX_RECORD_SIZE, READ_CHUNK, Records, Split};
use super::{SourceError, assert_delimiter};

/// How many records the server holds that the stream has not taken yet, across all clients.
pub(crate) const RECORDS_AHEAD: usize = 8;

/// Binds a TCP server on `addr` whose stream yields the delimited records its clients send:
/// streamz's `from_tcp`.
///
/// Returns once bound ([`local_addr`](TcpSource::local_addr) tells the port when `addr` asked
/// for port 0). Clients are accepted from the first poll on, any number at once up to
/// [`max_connections`](TcpSource::max_connections) (1024 by default; more wait in the backlog).
/// Each item is one record with its delimiter (`b"data\n"`); records of one client keep their
/// order, those of different clients interleave as they come. What a client sends after its last
/// delimiter is dropped when it disconnects.
///
/// Back-pressure: the server holds at most 8 records that the stream has not taken, and a client whose record cannot be handed on is not read further, so a
/// slow pipeline slows its clients through TCP flow control instead of buffering. A record longer
/// than [`max_record_size`](TcpSource::max_record_size) is a [`SourceError::RecordTooLong`] item
/// and closes that client's connection; a client's read error is a [`SourceError::Io`] item.
/// Neither ends the stream, which never ends by itself. Dropping the stream closes the listener
/// and every connection.
///
/// ```
/// use rivulet::prelude::*;
/// use tokio::io::AsyncWriteExt;
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut records = rivulet::sources::from_tcp("127.0.0.1:0").await?;
/// let mut client = tokio::net::TcpStream::connect(records.local_addr()).await?;
/// client.write_all(b"hello\nworld\n").await?;
/// assert_eq!(records.next().await.unwrap()?, "hello\n");
/// assert_eq!(records.next().await.unwrap()?, "world\n");
/// # Ok(())
/// # }
/// ```
pub async fn from_tcp(addr: impl ToSocketAddrs) -> Result<TcpSource, SourceError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| SourceError::io("binding the TCP source", e))?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| SourceError::io("binding the TCP source", e))?;
    Ok(TcpSource {
        listener: Some(listener),
        local_addr,
        delimiter: b"\n".to_vec(),
        max_record_size: DEFAULT_MAX_RECORD_SIZE,
        max_connections: 1024,
        records: None,
        task: None,
    })
}

/// Stream and builder of [`from_tcp`].
///
/// Options set after the first poll have no effect.
#[must_use = "streams do nothing unless polled"]
pub struct TcpSource {
    listener: Option<TcpListener>,
    local_addr: SocketAddr,
    delimiter: Vec<u8>,
    max_record_size: usize,
    max_connections: usize,
    records: Option<mpsc::Receiver<Result<Bytes, SourceError>>>,
    task: Option<JoinHandle<()>>,
}

impl TcpSource {
    /// The address the server is bound to.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let records = rivulet::sources::from_tcp("127.0.0.1:0").await?;
    /// assert_ne!(records.local_addr().port(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bytes that end a record (default `b"\n"`); records keep them.
    ///
    /// # Panics
    /// If `delimiter` is empty.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let records = rivulet::sources::from_tcp("127.0.0.1:0").await?.delimiter(b"\r\n");
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn delimiter(mut self, delimiter: impl AsRef<[u8]>) -> Self {
        assert_delimiter(delimiter.as_ref(), "from_tcp");
        self.delimiter = delimiter.as_ref().to_vec();
        self
    }

    /// The longest record kept (default
    /// [`DEFAULT_MAX_RECORD_SIZE`](super::DEFAULT_MAX_RECORD_SIZE)).
    ///
    /// # Panics
    /// If `max` is zero.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let records = rivulet::sources::from_tcp("127.0.0.1:0").await?.max_record_size(4096);
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn max_record_size(mut self, max: usize) -> Self {
        crate::ops::assert_nonzero(max, "from_tcp", "max_record_size");
        self.max_record_size = max;
        self
    }

    /// How many clients are read at once (default 1024); later ones wait to be accepted.
    ///
    /// # Panics
    /// If `n` is zero.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let records = rivulet::sources::from_tcp("127.0.0.1:0").await?.max_connections(16);
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn max_connections(mut self, n: usize) -> Self {
        crate::ops::assert_nonzero(n, "from_tcp", "max_connections");
        self.max_connections = n;
        self
    }
}

#[derive(Clone)]
struct ConnConfig {
    delimiter: Vec<u8>,
    max: usize,
}

async fn accept_loop(
    listener: TcpListener,
    tx: mpsc::Sender<Result<Bytes, SourceError>>,
    config: ConnConfig,
    max_connections: usize,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = tx.closed() => return,
        };
        match accepted {
            Ok((socket, peer)) => {
                let (tx, config) = (tx.clone(), config.clone());
                connections.spawn(read_client(socket, peer, tx, config, permit));
            }
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was accepted.
                tracing::warn!(error = %e, "from_tcp: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn read_client(
    mut socket: TcpStream,
    peer: SocketAddr,
    tx: mpsc::Sender<Result<Bytes, SourceError>>,
    config: ConnConfig,
    _permit: OwnedSemaphorePermit,
) {
    let mut records = Records::new(config.delimiter, config.max);
    let mut chunk = vec![0; READ_CHUNK];
    loop {
        while let Some(split) = records.next_record() {
            let (item, last) = match split {
                Split::Record(b) => (Ok(b), false),
                Split::TooLong => (Err(SourceError::RecordTooLong { max: config.max }), true),
            };
            if tx.send(item).await.is_err() || last {
                return;
            }
        }
        match socket.read(&mut chunk).await {
            Ok(0) => return,
            Ok(n) => records.extend(&chunk[..n]),
            Err(e) => {
                let _ = tx
                    .send(Err(SourceError::io(format!("reading from {peer}"), e)))
                    .await;
                return;
            }
        }
    }
}

impl Stream for TcpSource {
    type Item = Result<Bytes, SourceError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(listener) = this.listener.take() {
            let (tx, rx) = mpsc::channel(RECORDS_AHEAD);
            let config = ConnConfig {
                delimiter: this.delimiter.clone(),
                max: this.max_record_size,
            };
            this.task = Some(tokio::spawn(accept_loop(
                listener,
                tx,
                config,
                this.max_connections,
            )));
            this.records = Some(rx);
        }
        match this.records.as_mut() {
            Some(rx) => rx.poll_recv(cx),
            None => Poll::Ready(None),
        }
    }
}

impl Drop for TcpSource {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort(); // drops the listener and the connections' JoinSet
        }
    }
}

impl fmt::Debug for TcpSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSource")
            .field("local_addr", &self.local_addr)
            .field("started", &self.task.is_some())
            .finish_non_exhaustive()
    }
}
