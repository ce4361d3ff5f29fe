//! Follow a growing text file, as `tail -F` does: streamz's `from_textfile`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use futures::stream::BoxStream;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::watch;

use super::record::{DEFAULT_MAX_RECORD_SIZE, READ_CHUNK, Records, Split};
use super::{SourceError, assert_delimiter, assert_nonzero_duration};
use crate::ack::{Acked, Tracker};

/// Follows the text file at `path` as it grows: streamz's `from_textfile`.
///
/// Each item is one complete record with its delimiter (`"line\n"`); an incomplete last record
/// waits until its delimiter is written. The stream never ends by itself: at the end of the file
/// it waits for more, checking every [`poll_interval`](TextFile::poll_interval) (100 ms by
/// default) and at once when the directory reports a change (through the `notify` crate, where
/// the platform has it). It reads only when polled.
///
/// - **Rotation**: when `path` is renamed away and a new file created in its place, the source
///   finishes the old file and goes on with the new one from its start (an incomplete last record
///   of the old file is dropped); when the file is truncated (shorter than what was read) it
///   starts over from the beginning.
/// - **A missing file** is waited for, like `tail -F`. Any other failure to open or read it is
///   the stream's last item, a [`SourceError::Io`].
/// - **Bad records**: a record that is not UTF-8 is a [`SourceError::NotUtf8`] item, one longer
///   than [`max_record_size`](TextFile::max_record_size) a [`SourceError::RecordTooLong`] item;
///   both are skipped and the stream goes on.
///
/// ```
/// use rivulet::prelude::*;
/// use std::io::Write;
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = std::env::temp_dir().join(format!("rivulet-doc-textfile-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("app.log");
/// std::fs::write(&path, "old\n")?;
/// let mut lines = rivulet::sources::from_textfile(&path)
///     .from_end(true)
///     .poll_interval(std::time::Duration::from_millis(10));
/// let next = tokio::spawn(async move { lines.next().await });
/// tokio::time::sleep(std::time::Duration::from_millis(50)).await;
/// std::fs::OpenOptions::new().append(true).open(&path)?.write_all(b"new\n")?;
/// assert_eq!(next.await?.unwrap()?, "new\n");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
pub fn from_textfile(path: impl AsRef<Path>) -> TextFile {
    TextFile {
        config: Config {
            path: path.as_ref().to_path_buf(),
            from_end: false,
            delimiter: b"\n".to_vec(),
            poll_interval: Duration::from_millis(100),
            max_record_size: DEFAULT_MAX_RECORD_SIZE,
        },
        running: None,
    }
}

#[derive(Debug, Clone)]
struct Config {
    path: PathBuf,
    from_end: bool,
    delimiter: Vec<u8>,
    poll_interval: Duration,
    max_record_size: usize,
}

/// Stream and builder of [`from_textfile`]: set options, then poll it.
///
/// Options set after the first poll have no effect.
#[must_use = "streams do nothing unless polled"]
pub struct TextFile {
    config: Config,
    running: Option<BoxStream<'static, Result<String, SourceError>>>,
}

impl TextFile {
    /// Start at the end of the file, yielding only what is written from now on (default: `false`,
    /// the whole file first).
    ///
    /// ```
    /// let lines = rivulet::sources::from_textfile("/var/log/syslog").from_end(true);
    /// # drop(lines);
    /// ```
    pub fn from_end(mut self, from_end: bool) -> Self {
        self.config.from_end = from_end;
        self
    }

    /// The bytes that end a record (default `b"\n"`); records keep them.
    ///
    /// # Panics
    /// If `delimiter` is empty.
    ///
    /// ```
    /// let records = rivulet::sources::from_textfile("data.txt").delimiter(b"\r\n");
    /// # drop(records);
    /// ```
    #[track_caller]
    pub fn delimiter(mut self, delimiter: impl AsRef<[u8]>) -> Self {
        assert_delimiter(delimiter.as_ref(), "from_textfile");
        self.config.delimiter = delimiter.as_ref().to_vec();
        self
    }

    /// How often to look for new data at the end of the file (default 100 ms).
    ///
    /// # Panics
    /// If `interval` is zero.
    ///
    /// ```
    /// let lines = rivulet::sources::from_textfile("a.log")
    ///     .poll_interval(std::time::Duration::from_millis(10));
    /// # drop(lines);
    /// ```
    #[track_caller]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        assert_nonzero_duration(interval, "from_textfile", "poll_interval");
        self.config.poll_interval = interval;
        self
    }

    /// The longest record kept, delimiter included (default
    /// [`DEFAULT_MAX_RECORD_SIZE`](super::DEFAULT_MAX_RECORD_SIZE)); a longer one is a
    /// [`SourceError::RecordTooLong`] item and is skipped.
    ///
    /// # Panics
    /// If `max` is zero.
    ///
    /// ```
    /// let lines = rivulet::sources::from_textfile("a.log").max_record_size(4096);
    /// # drop(lines);
    /// ```
    #[track_caller]
    pub fn max_record_size(mut self, max: usize) -> Self {
        crate::ops::assert_nonzero(max, "from_textfile", "max_record_size");
        self.config.max_record_size = max;
        self
    }

    /// Remembers, in the file at `checkpoint`, how far the pipeline has finished, and resumes
    /// from there: the stream then yields [`Acked<String>`], and the position after a record is
    /// committed once that record and every one before it are done (their
    /// [`Ack`](crate::Ack)s dropped). A restarted pipeline reads again from the last committed
    /// position, so a crash replays records instead of losing them (at-least-once).
    ///
    /// The checkpoint is written (to a temporary file, synced, then renamed over `checkpoint`)
    /// when the source is polled after a commit, and once more, in the background, when the
    /// stream is dropped inside a tokio runtime. It names the file by device and inode, so a
    /// checkpoint of a file that has since been rotated away starts the new file from its
    /// beginning. A checkpoint found at start overrides [`from_end`](TextFile::from_end).
    /// Records skipped as errors are done at once.
    ///
    /// ```
    /// use rivulet::prelude::*;
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = std::env::temp_dir().join(format!("rivulet-doc-checkpoint-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let (log, checkpoint) = (dir.join("app.log"), dir.join("app.log.checkpoint"));
    /// std::fs::write(&log, "a\nb\n")?;
    ///
    /// let mut lines = rivulet::sources::from_textfile(&log).checkpoint(&checkpoint);
    /// let a = lines.next().await.unwrap()?;
    /// assert_eq!(*a, "a\n");
    /// drop(a); // "a\n" is done: its end is committed
    /// let b = lines.next().await.unwrap()?; // "b\n" is taken but never done
    /// drop(lines); // a crash
    ///
    /// let mut again = rivulet::sources::from_textfile(&log).checkpoint(&checkpoint);
    /// assert_eq!(*again.next().await.unwrap()?, "b\n"); // replayed
    /// # drop(b);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn checkpoint(self, checkpoint: impl AsRef<Path>) -> CheckpointedTextFile {
        CheckpointedTextFile {
            config: self.config,
            checkpoint: checkpoint.as_ref().to_path_buf(),
            running: None,
        }
    }
}

impl Stream for TextFile {
    type Item = Result<String, SourceError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let config = &this.config;
        let running = this.running.get_or_insert_with(|| {
            let follower = Follower::new(config.clone(), None);
            Box::pin(futures::stream::unfold(follower, |mut f| async move {
                let item = match f.next().await? {
                    Event::Record { bytes, start, .. } => text(&f.config.path, start, bytes),
                    Event::Skipped { error, .. } | Event::Failed(error) => Err(error),
                };
                Some((item, f))
            }))
        });
        running.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for TextFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextFile")
            .field("config", &self.config)
            .field("started", &self.running.is_some())
            .finish()
    }
}

/// Stream of [`TextFile::checkpoint`]: records as [`Acked<String>`], resumed from a checkpoint.
#[must_use = "streams do nothing unless polled"]
pub struct CheckpointedTextFile {
    config: Config,
    checkpoint: PathBuf,
    running: Option<BoxStream<'static, Result<Acked<String>, SourceError>>>,
}

impl CheckpointedTextFile {
    /// The checkpoint file's path.
    ///
    /// ```
    /// let lines = rivulet::sources::from_textfile("a.log").checkpoint("a.log.checkpoint");
    /// assert_eq!(lines.checkpoint_path(), std::path::Path::new("a.log.checkpoint"));
    /// ```
    pub fn checkpoint_path(&self) -> &Path {
        &self.checkpoint
    }
}

impl Stream for CheckpointedTextFile {
    type Item = Result<Acked<String>, SourceError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let (config, checkpoint) = (&this.config, &this.checkpoint);
        let running = this.running.get_or_insert_with(|| {
            let config = config.clone();
            let checkpoint = checkpoint.clone();
            Box::pin(
                futures::stream::once(async move {
                    let saved = read_checkpoint(&checkpoint).await;
                    let tracker = Tracker::starting_at(saved);
                    let checkpointer = Checkpointer::new(checkpoint, tracker);
                    Follower::new(config, Some(checkpointer))
                })
                .flat_map(|follower| {
                    futures::stream::unfold(follower, |mut f| async move {
                        let event = f.next().await?;
                        let tracker = f.checkpointer.as_ref().map(|c| c.tracker.clone())?;
                        let item = match event {
                            Event::Record { bytes, start, end } => {
                                let ack = tracker.track(end);
                                text(&f.config.path, start, bytes).map(|s| Acked::new(s, ack))
                            }
                            Event::Skipped { error, end } => {
                                drop(tracker.track(end)); // a skipped record is done at once
                                Err(error)
                            }
                            Event::Failed(error) => Err(error),
                        };
                        Some((item, f))
                    })
                }),
            )
        });
        running.as_mut().poll_next(cx)
    }
}

use futures::StreamExt as _;

impl fmt::Debug for CheckpointedTextFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointedTextFile")
            .field("config", &self.config)
            .field("checkpoint", &self.checkpoint)
            .field("started", &self.running.is_some())
            .finish()
    }
}

fn text(path: &Path, start: u64, bytes: Bytes) -> Result<String, SourceError> {
    match std::str::from_utf8(&bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Err(SourceError::NotUtf8 {
            path: path.to_path_buf(),
            position: start,
            bytes,
        }),
    }
}

/// Which file a position is in: device and inode where the platform has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some(FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> Option<FileId> {
    None
}

/// A committed position: the byte just after the last finished record, in file `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FilePos {
    id: Option<FileId>,
    offset: u64,
}

const CHECKPOINT_HEADER: &str = "rivulet-textfile-checkpoint 1";

fn format_checkpoint(pos: &FilePos) -> String {
    match pos.id {
        Some(id) => format!(
            "{CHECKPOINT_HEADER}\n{} {} {}\n",
            id.dev, id.ino, pos.offset
        ),
        None => format!("{CHECKPOINT_HEADER}\n- - {}\n", pos.offset),
    }
}

fn parse_checkpoint(text: &str) -> Option<FilePos> {
    let mut lines = text.lines();
    if lines.next()? != CHECKPOINT_HEADER {
        return None;
    }
    let mut fields = lines.next()?.split(' ');
    let (dev, ino, offset) = (fields.next()?, fields.next()?, fields.next()?);
    let id = match (dev, ino) {
        ("-", "-") => None,
        _ => Some(FileId {
            dev: dev.parse().ok()?,
            ino: ino.parse().ok()?,
        }),
    };
    Some(FilePos {
        id,
        offset: offset.parse().ok()?,
    })
}

async fn read_checkpoint(path: &Path) -> Option<FilePos> {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => {
            let pos = parse_checkpoint(&text);
            if pos.is_none() {
                tracing::warn!(checkpoint = %path.display(), "unreadable checkpoint; starting over");
            }
            pos
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(checkpoint = %path.display(), error = %e, "cannot read checkpoint; starting over");
            None
        }
    }
}

async fn write_checkpoint(path: &Path, pos: &FilePos) -> std::io::Result<()> {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut tmp = path.as_os_str().to_owned();
    // A name of its own per write, so that two writes (a dropped stream's last one and a new
    // stream's first) never rename each other's file away.
    tmp.push(format!(".{}.{n}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut file = tokio::fs::File::create(&tmp).await?;
    file.write_all(format_checkpoint(pos).as_bytes()).await?;
    file.sync_data().await?;
    drop(file);
    tokio::fs::rename(&tmp, path).await
}

struct Checkpointer {
    path: PathBuf,
    tracker: Tracker<FilePos>,
    commits: watch::Receiver<Option<FilePos>>,
    /// The position restored at start, until the file is first opened.
    restored: Option<FilePos>,
    saved: Option<FilePos>,
}

impl Checkpointer {
    fn new(path: PathBuf, tracker: Tracker<FilePos>) -> Self {
        let restored = tracker.committed();
        let mut commits = tracker.watch();
        commits.mark_unchanged();
        Checkpointer {
            path,
            tracker,
            commits,
            restored,
            saved: restored,
        }
    }

    /// Writes the committed position if it moved since the last write.
    async fn save(&mut self) -> Result<(), SourceError> {
        let current = *self.commits.borrow_and_update();
        if current == self.saved {
            return Ok(());
        }
        let Some(pos) = current else { return Ok(()) };
        write_checkpoint(&self.path, &pos).await.map_err(|e| {
            SourceError::io(format!("writing checkpoint {}", self.path.display()), e)
        })?;
        self.saved = current;
        Ok(())
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let current = self.tracker.committed();
        if current == self.saved {
            return;
        }
        let (Some(pos), Ok(runtime)) = (current, tokio::runtime::Handle::try_current()) else {
            return;
        };
        let path = self.path.clone();
        runtime.spawn(async move {
            if let Err(e) = write_checkpoint(&path, &pos).await {
                tracing::warn!(checkpoint = %path.display(), error = %e, "cannot write checkpoint");
            }
        });
    }
}

/// What the follower found next.
enum Event {
    Record {
        bytes: Bytes,
        start: u64,
        end: FilePos,
    },
    Skipped {
        error: SourceError,
        end: FilePos,
    },
    Failed(SourceError),
}

/// Wakes the follower when the file's directory changes.
struct DirWatch {
    _watcher: notify::RecommendedWatcher,
    changed: Arc<tokio::sync::Notify>,
}

fn watch_dir(path: &Path) -> Option<DirWatch> {
    use notify::Watcher;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let changed = Arc::new(tokio::sync::Notify::new());
    let notify = Arc::clone(&changed);
    let mut watcher = notify::recommended_watcher(move |_event: notify::Result<notify::Event>| {
        notify.notify_one();
    })
    .ok()?;
    watcher
        .watch(&dir, notify::RecursiveMode::NonRecursive)
        .ok()?;
    Some(DirWatch {
        _watcher: watcher,
        changed,
    })
}

struct Follower {
    config: Config,
    checkpointer: Option<Checkpointer>,
    file: Option<tokio::fs::File>,
    id: Option<FileId>,
    /// Whether a file was opened before (later opens start at the beginning).
    opened_before: bool,
    records: Records,
    /// Position just after the last byte read from the file.
    read_pos: u64,
    chunk: Vec<u8>,
    watch: Option<DirWatch>,
    watch_tried: bool,
    /// The path names another file than the one open; set at the first end of file after that.
    rotation_seen: bool,
    failed: bool,
}

impl Follower {
    fn new(config: Config, checkpointer: Option<Checkpointer>) -> Self {
        let records = Records::new(config.delimiter.clone(), config.max_record_size);
        Follower {
            config,
            checkpointer,
            file: None,
            id: None,
            opened_before: false,
            records,
            read_pos: 0,
            chunk: vec![0; READ_CHUNK],
            watch: None,
            watch_tried: false,
            rotation_seen: false,
            failed: false,
        }
    }

    fn pos(&self) -> FilePos {
        FilePos {
            id: self.id,
            offset: self.records.consumed(),
        }
    }

    fn io_failed(&mut self, what: &str, e: std::io::Error) -> Option<Event> {
        self.failed = true;
        let what = format!("{what} {}", self.config.path.display());
        Some(Event::Failed(SourceError::io(what, e)))
    }

    /// Waits `poll_interval`, or less when the directory or the commits change.
    async fn wait(&mut self) {
        if !self.watch_tried {
            self.watch_tried = true;
            self.watch = watch_dir(&self.config.path);
        }
        let sleep = tokio::time::sleep(self.config.poll_interval);
        let changed = async {
            match &self.watch {
                Some(w) => w.changed.notified().await,
                None => std::future::pending().await,
            }
        };
        let committed = async {
            match &mut self.checkpointer {
                Some(c) => {
                    if c.commits.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {}
            () = changed => {}
            () = committed => {}
        }
    }

    async fn open(&mut self) -> Result<bool, std::io::Error> {
        let mut file = match tokio::fs::File::open(&self.config.path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let meta = file.metadata().await?;
        let id = file_id(&meta);
        let len = meta.len();
        let restored = self.checkpointer.as_mut().and_then(|c| c.restored.take());
        let start = if self.opened_before {
            0
        } else if let Some(pos) = restored {
            if pos.id == id && pos.offset <= len {
                pos.offset
            } else {
                0 // the checkpoint is of a file rotated away since, or the file shrank
            }
        } else if self.config.from_end {
            len
        } else {
            0
        };
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start)).await?;
        }
        self.opened_before = true;
        self.rotation_seen = false;
        self.file = Some(file);
        self.id = id;
        self.records.reset(start);
        self.read_pos = start;
        Ok(true)
    }

    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.failed {
                return None;
            }
            if let Some(c) = &mut self.checkpointer {
                if let Err(error) = c.save().await {
                    return Some(Event::Failed(error));
                }
            }
            if self.file.is_none() {
                match self.open().await {
                    Ok(true) => {}
                    Ok(false) => {
                        self.wait().await;
                        continue;
                    }
                    Err(e) => return self.io_failed("opening", e),
                }
            }
            match self.records.next_record() {
                Some(Split::Record(bytes)) => {
                    let end = self.pos();
                    let start = end.offset - bytes.len() as u64;
                    return Some(Event::Record { bytes, start, end });
                }
                Some(Split::TooLong) => {
                    let max = self.config.max_record_size;
                    return Some(Event::Skipped {
                        error: SourceError::RecordTooLong { max },
                        end: self.pos(),
                    });
                }
                None => {}
            }
            let Some(file) = self.file.as_mut() else {
                continue;
            };
            let n = match file.read(&mut self.chunk).await {
                Ok(n) => n,
                Err(e) => return self.io_failed("reading", e),
            };
            if n > 0 {
                self.records.extend(&self.chunk[..n]);
                self.read_pos += n as u64;
                continue;
            }
            // At the end of the file: has it been replaced, or truncated?
            match tokio::fs::metadata(&self.config.path).await {
                Ok(meta) if file_id(&meta) != self.id => {
                    // Rotated. What was written to the old file between our last read and the
                    // rename is still to be read: switch only once a read made after seeing
                    // the new file finds the old one at its end.
                    if self.rotation_seen {
                        self.file = None; // go on with the new file from its start
                    } else {
                        self.rotation_seen = true;
                    }
                    continue;
                }
                Ok(meta) if meta.len() < self.read_pos => {
                    if let Err(e) = file.seek(std::io::SeekFrom::Start(0)).await {
                        return self.io_failed("rewinding", e);
                    }
                    self.records.reset(0);
                    self.read_pos = 0;
                    continue;
                }
                _ => {}
            }
            self.wait().await;
        }
    }
}
