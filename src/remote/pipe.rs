//! The two halves of a connection's one ordered stream: a frame reader and a batching writer.

use bytes::BytesMut;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::remote::frame::{self, FrameError};
use crate::remote::wire;

/// How many queued messages the writer puts into one write.
const WRITE_BATCH: usize = 256;

/// A receive stream with its frame-reading state, read one message at a time.
#[derive(Debug)]
pub(crate) struct FrameReader {
    recv: quinn::RecvStream,
    state: wire::FrameReader,
}

impl FrameReader {
    pub(crate) fn new(recv: quinn::RecvStream, max_frame: usize) -> Self {
        FrameReader {
            recv,
            state: wire::FrameReader::new(max_frame),
        }
    }

    /// The next message, or `None` at a clean end of the stream.
    pub(crate) async fn next<M: DeserializeOwned>(&mut self) -> Result<Option<M>, FrameError> {
        wire::read_message(&mut self.recv, &mut self.state).await
    }
}

/// Spawns the task that writes queued messages to `send`, several frames per write. It ends (and
/// finishes the stream) when every sender is dropped, or at the first write error.
pub(crate) fn spawn_writer<M>(
    mut send: quinn::SendStream,
    max_frame: usize,
) -> (
    mpsc::UnboundedSender<M>,
    tokio::task::JoinHandle<Result<(), FrameError>>,
)
where
    M: Serialize + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<M>();
    let task = tokio::spawn(async move {
        let mut buf = BytesMut::new();
        let mut batch = Vec::with_capacity(WRITE_BATCH);
        while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
            for message in batch.drain(..) {
                frame::encode(&message, max_frame, &mut buf)?;
            }
            send.write_all(&buf).await?;
            buf.clear();
        }
        // Every sender is gone: the peer sees a clean end of stream.
        let _ = send.finish();
        Ok(())
    });
    (tx, task)
}
