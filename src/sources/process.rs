//! Records of a child process's output: streamz's `from_process`.

use std::fmt;
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use futures::stream::BoxStream;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

use super::record::{DEFAULT_MAX_RECORD_SIZE, READ_CHUNK, Records, Split};
use super::{SourceError, assert_delimiter};

/// The records (lines by default) a child process writes to its stdout: streamz's
/// `from_process`.
///
/// The child starts at the first poll, with stdin closed, and is read only as the stream is
/// polled, so a slow pipeline blocks the child on a full pipe rather than buffering its output.
/// Each item is a record with its delimiter; what the child writes after its last delimiter is
/// the last record (streamz's `with_end=True`). With [`with_stderr`](Process::with_stderr) the
/// child's stderr is read too, records of both interleaved as they come. When the output ends
/// the child is waited for: a non-zero exit (or a death by signal) is the last item, a
/// [`SourceError::Exit`]; failing to start it is the only item, a [`SourceError::Io`].
/// Dropping the stream kills the child (tokio's `kill_on_drop`, reaped in the background).
///
/// ```
/// use rivulet::prelude::*;
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut command = tokio::process::Command::new("sh");
/// command.args(["-c", "printf '0\\n1\\n2'"]);
/// let lines: Vec<_> = rivulet::sources::from_process(command).collect().await;
/// let lines: Vec<bytes::Bytes> = lines.into_iter().collect::<Result<_, _>>()?;
/// assert_eq!(lines, vec!["0\n", "1\n", "2"]);
///
/// let failing = tokio::process::Command::new("false");
/// let items: Vec<_> = rivulet::sources::from_process(failing).collect().await;
/// assert!(matches!(items[..], [Err(rivulet::sources::SourceError::Exit { .. })]));
/// # Ok(())
/// # }
/// ```
pub fn from_process(command: impl Into<Command>) -> Process {
    Process {
        command: Some(command.into()),
        with_stderr: false,
        delimiter: b"\n".to_vec(),
        max_record_size: DEFAULT_MAX_RECORD_SIZE,
        running: None,
    }
}

/// Stream and builder of [`from_process`].
///
/// Options set after the first poll have no effect.
#[must_use = "streams do nothing unless polled"]
pub struct Process {
    command: Option<Command>,
    with_stderr: bool,
    delimiter: Vec<u8>,
    max_record_size: usize,
    running: Option<BoxStream<'static, Result<Bytes, SourceError>>>,
}

impl Process {
    /// Read the child's stderr as well (default: `false`, stderr is inherited).
    ///
    /// ```
    /// let mut command = tokio::process::Command::new("sh");
    /// command.args(["-c", "echo oops >&2"]);
    /// let output = rivulet::sources::from_process(command).with_stderr(true);
    /// # drop(output);
    /// ```
    pub fn with_stderr(mut self, with_stderr: bool) -> Self {
        self.with_stderr = with_stderr;
        self
    }

    /// The bytes that end a record (default `b"\n"`); records keep them.
    ///
    /// # Panics
    /// If `delimiter` is empty.
    ///
    /// ```
    /// let output = rivulet::sources::from_process(tokio::process::Command::new("ls")).delimiter(b"\0");
    /// # drop(output);
    /// ```
    #[track_caller]
    pub fn delimiter(mut self, delimiter: impl AsRef<[u8]>) -> Self {
        assert_delimiter(delimiter.as_ref(), "from_process");
        self.delimiter = delimiter.as_ref().to_vec();
        self
    }

    /// The longest record kept (default
    /// [`DEFAULT_MAX_RECORD_SIZE`](super::DEFAULT_MAX_RECORD_SIZE)); a longer one is a
    /// [`SourceError::RecordTooLong`] item and is skipped.
    ///
    /// # Panics
    /// If `max` is zero.
    ///
    /// ```
    /// let output = rivulet::sources::from_process(tokio::process::Command::new("ls")).max_record_size(256);
    /// # drop(output);
    /// ```
    #[track_caller]
    pub fn max_record_size(mut self, max: usize) -> Self {
        crate::ops::assert_nonzero(max, "from_process", "max_record_size");
        self.max_record_size = max;
        self
    }
}

/// One of the child's pipes, split into records.
struct Pipe<R> {
    reader: Option<R>,
    records: Records,
}

impl<R: AsyncRead + Unpin> Pipe<R> {
    fn new(reader: Option<R>, delimiter: &[u8], max: usize) -> Self {
        Pipe {
            reader,
            records: Records::new(delimiter.to_vec(), max),
        }
    }

    fn open(&self) -> bool {
        self.reader.is_some()
    }

    /// A record that is ready without reading, or at the pipe's end what is left.
    fn ready(&mut self, max: usize) -> Option<Result<Bytes, SourceError>> {
        match self.records.next_record() {
            Some(Split::Record(b)) => Some(Ok(b)),
            Some(Split::TooLong) => Some(Err(SourceError::RecordTooLong { max })),
            None if self.reader.is_none() => self.records.remainder().map(Ok),
            None => None,
        }
    }

    /// Reads once; cancel-safe (a read that did not complete took nothing).
    async fn read(&mut self, chunk: &mut [u8]) -> Result<(), std::io::Error> {
        let Some(reader) = self.reader.as_mut() else {
            return std::future::pending().await;
        };
        let n = reader.read(chunk).await?;
        if n == 0 {
            self.reader = None;
        } else {
            self.records.extend(&chunk[..n]);
        }
        Ok(())
    }
}

struct Running {
    child: Option<Child>,
    stdout: Pipe<ChildStdout>,
    stderr: Pipe<ChildStderr>,
    max: usize,
    out_chunk: Vec<u8>,
    err_chunk: Vec<u8>,
    done: bool,
}

impl Running {
    async fn next(&mut self) -> Option<Result<Bytes, SourceError>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(item) = self.stdout.ready(self.max) {
                return Some(item);
            }
            if let Some(item) = self.stderr.ready(self.max) {
                return Some(item);
            }
            if !self.stdout.open() && !self.stderr.open() {
                self.done = true;
                let mut child = self.child.take()?;
                return match child.wait().await {
                    Ok(status) if status.success() => None,
                    Ok(status) => Some(Err(SourceError::Exit { status })),
                    Err(e) => Some(Err(SourceError::io("waiting for the process", e))),
                };
            }
            let read = tokio::select! {
                r = self.stdout.read(&mut self.out_chunk) => r,
                r = self.stderr.read(&mut self.err_chunk) => r,
            };
            if let Err(e) = read {
                self.done = true;
                return Some(Err(SourceError::io("reading the process's output", e)));
            }
        }
    }
}

impl Stream for Process {
    type Item = Result<Bytes, SourceError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.running.is_none() {
            let Some(mut command) = this.command.take() else {
                return Poll::Ready(None);
            };
            command
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .kill_on_drop(true);
            if this.with_stderr {
                command.stderr(Stdio::piped());
            }
            let (delimiter, max) = (&this.delimiter, this.max_record_size);
            let stream: BoxStream<'static, _> = match command.spawn() {
                Err(e) => {
                    let program = command
                        .as_std()
                        .get_program()
                        .to_string_lossy()
                        .into_owned();
                    let error = SourceError::io(format!("starting {program}"), e);
                    Box::pin(futures::stream::once(async move { Err(error) }))
                }
                Ok(mut child) => {
                    let running = Running {
                        stdout: Pipe::new(child.stdout.take(), delimiter, max),
                        stderr: Pipe::new(child.stderr.take(), delimiter, max),
                        child: Some(child),
                        max,
                        out_chunk: vec![0; READ_CHUNK],
                        err_chunk: vec![0; READ_CHUNK],
                        done: false,
                    };
                    Box::pin(futures::stream::unfold(running, |mut r| async move {
                        let item = r.next().await?;
                        Some((item, r))
                    }))
                }
            };
            this.running = Some(stream);
        }
        match this.running.as_mut() {
            Some(running) => running.as_mut().poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("command", &self.command)
            .field("with_stderr", &self.with_stderr)
            .field("started", &self.running.is_some())
            .finish_non_exhaustive()
    }
}
