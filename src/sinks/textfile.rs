//! Append items to a text file: streamz's `sink_to_textfile`.

use std::fmt::{Display, Write as _};
use std::path::{Path, PathBuf};

use futures::{FutureExt, Stream, StreamExt};
use tokio::io::AsyncWriteExt;

use crate::error::Error;
use crate::sink::{SinkHandle, spawn_fallible};

/// Options of [`sink_to_textfile`](crate::StreamzExt::sink_to_textfile): where to write, what
/// ends each item, and whether to `fsync`.
///
/// ```
/// use rivulet::prelude::*;
/// use rivulet::sinks::TextFileSink;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = std::env::temp_dir().join(format!("rivulet-doc-textfile-sink-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("out.csv");
/// # let _ = std::fs::remove_file(&path);
/// let rows = futures::stream::iter(["a,1", "b,2"]);
/// TextFileSink::new(&path).end("\r\n").fsync(true).spawn(rows).await?;
/// assert_eq!(std::fs::read_to_string(&path)?, "a,1\r\nb,2\r\n");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a TextFileSink writes nothing until `spawn` is called"]
pub struct TextFileSink {
    path: PathBuf,
    end: String,
    fsync: bool,
}

impl TextFileSink {
    /// Appends to the file at `path` (created if missing), each item followed by `"\n"`.
    ///
    /// ```
    /// let sink = rivulet::sinks::TextFileSink::new("out.txt");
    /// # drop(sink);
    /// ```
    pub fn new(path: impl AsRef<Path>) -> Self {
        TextFileSink {
            path: path.as_ref().to_path_buf(),
            end: "\n".to_owned(),
            fsync: false,
        }
    }

    /// What is written after each item (default `"\n"`; streamz's `end=`).
    ///
    /// ```
    /// let sink = rivulet::sinks::TextFileSink::new("out.txt").end("");
    /// # drop(sink);
    /// ```
    pub fn end(mut self, end: impl Into<String>) -> Self {
        self.end = end.into();
        self
    }

    /// `fsync` the file (its data) after each flush, so what the handle reported written survives
    /// a power loss (default: `false`).
    ///
    /// ```
    /// let sink = rivulet::sinks::TextFileSink::new("out.txt").fsync(true);
    /// # drop(sink);
    /// ```
    pub fn fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// Spawns `stream` on the current tokio runtime, writing its items to the file; see
    /// [`sink_to_textfile`](crate::StreamzExt::sink_to_textfile).
    ///
    /// # Panics
    /// Outside a tokio runtime, as [`tokio::spawn`] does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let dir = std::env::temp_dir().join(format!("rivulet-doc-spawn-{}", std::process::id()));
    /// let handle = rivulet::sinks::TextFileSink::new(dir.join("no/such/dir/out.txt"))
    ///     .spawn(futures::stream::iter([1]));
    /// assert!(matches!(handle.await, Err(rivulet::Error::Io { .. })));
    /// # }
    /// ```
    pub fn spawn<S>(self, stream: S) -> SinkHandle
    where
        S: Stream + Send + 'static,
        S::Item: Display + Send,
    {
        spawn_fallible(self.run(stream))
    }

    async fn run<S>(self, stream: S) -> Result<(), Error>
    where
        S: Stream,
        S::Item: Display,
    {
        let path = self.path.display().to_string();
        let io = |what: &str| {
            let what = format!("{what} {path}");
            move |source| Error::Io { what, source }
        };
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(io("opening"))?;
        let mut out = tokio::io::BufWriter::new(file);
        let mut stream = std::pin::pin!(stream);
        let mut text = String::new();
        let mut dirty = false;
        loop {
            let item = match stream.next().now_or_never() {
                Some(item) => item,
                None => {
                    // Nothing ready: let what was written reach the file while we wait.
                    if dirty {
                        self.flush(&mut out).await.map_err(io("writing"))?;
                    }
                    stream.next().await
                }
            };
            // The item is turned into text at once, so it is not held across a write.
            if !render(&mut text, item, &self.end) {
                break;
            }
            out.write_all(text.as_bytes())
                .await
                .map_err(io("writing"))?;
            dirty = true;
        }
        self.flush(&mut out).await.map_err(io("writing"))
    }

    async fn flush(&self, out: &mut tokio::io::BufWriter<tokio::fs::File>) -> std::io::Result<()> {
        out.flush().await?;
        if self.fsync {
            out.get_ref().sync_data().await?;
        }
        Ok(())
    }
}

/// Writes `item` and `end` into `text`; `false` at the end of the stream.
fn render<T: Display>(text: &mut String, item: Option<T>, end: &str) -> bool {
    let Some(item) = item else { return false };
    text.clear();
    // Writing to a String fails only if the item's `Display` does.
    let _ = write!(text, "{item}{end}");
    true
}
