//! New paths matching a glob: streamz's `filenames`.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use futures::stream::BoxStream;

use super::{SourceError, assert_nonzero_duration};

/// New paths matching the glob `pattern`, each once, sorted within a poll: streamz's `filenames`.
///
/// `pattern` is a glob (`logs/*.txt`, `data/**/*.csv`, as the [`glob`] crate reads it); a path
/// that is an existing directory means every entry in it (`dir/*`), as in streamz. The source
/// lists the matches at its first poll and then every [`poll_interval`](Filenames::poll_interval)
/// (100 ms by default), yielding the paths it has not yielded before, in sorted order. It never
/// ends by itself. The listing runs on tokio's blocking pool, never on a runtime thread.
///
/// It remembers the paths that still match, so memory follows the directory, not its history: a
/// path that disappears and comes back is yielded again. An invalid pattern is the stream's only
/// item, a [`SourceError::Pattern`]; an entry that cannot be read is a [`SourceError::Io`] item.
///
/// ```
/// use rivulet::prelude::*;
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = std::env::temp_dir().join(format!("rivulet-doc-filenames-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(dir.join("b.txt"), "")?;
/// std::fs::write(dir.join("a.txt"), "")?;
/// let mut paths = rivulet::sources::filenames(dir.join("*.txt").to_string_lossy());
/// assert_eq!(paths.next().await.unwrap()?, dir.join("a.txt"));
/// assert_eq!(paths.next().await.unwrap()?, dir.join("b.txt"));
/// std::fs::write(dir.join("c.txt"), "")?;
/// assert_eq!(paths.next().await.unwrap()?, dir.join("c.txt"));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
pub fn filenames(pattern: impl Into<String>) -> Filenames {
    Filenames {
        pattern: pattern.into(),
        poll_interval: Duration::from_millis(100),
        running: None,
    }
}

/// Stream and builder of [`filenames`].
///
/// Options set after the first poll have no effect.
#[must_use = "streams do nothing unless polled"]
pub struct Filenames {
    pattern: String,
    poll_interval: Duration,
    running: Option<BoxStream<'static, Result<PathBuf, SourceError>>>,
}

impl Filenames {
    /// How often to list the matches again (default 100 ms).
    ///
    /// # Panics
    /// If `interval` is zero.
    ///
    /// ```
    /// let paths = rivulet::sources::filenames("/tmp/*.csv")
    ///     .poll_interval(std::time::Duration::from_secs(1));
    /// # drop(paths);
    /// ```
    #[track_caller]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        assert_nonzero_duration(interval, "filenames", "poll_interval");
        self.poll_interval = interval;
        self
    }
}

struct Lister {
    pattern: String,
    poll_interval: Duration,
    seen: HashSet<PathBuf>,
    ready: std::collections::VecDeque<Result<PathBuf, SourceError>>,
    polls: u64,
    failed: bool,
}

/// One listing: the sorted matches, or the pattern's error.
fn list(pattern: &str) -> Result<Vec<Result<PathBuf, SourceError>>, SourceError> {
    let pattern = if Path::new(pattern).is_dir() {
        Path::new(pattern).join("*").to_string_lossy().into_owned()
    } else {
        pattern.to_owned()
    };
    let paths = glob::glob(&pattern).map_err(|e| SourceError::Pattern {
        pattern: pattern.clone(),
        message: e.to_string(),
    })?;
    let mut out: Vec<Result<PathBuf, SourceError>> = paths
        .map(|entry| {
            entry.map_err(|e| {
                let what = format!("listing {}", e.path().display());
                SourceError::io(what, e.into())
            })
        })
        .collect();
    out.sort_by(|a, b| match (a, b) {
        (Ok(a), Ok(b)) => a.cmp(b),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => std::cmp::Ordering::Equal,
    });
    Ok(out)
}

impl Lister {
    async fn next(&mut self) -> Option<Result<PathBuf, SourceError>> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            if self.failed {
                return None;
            }
            if self.polls > 0 {
                tokio::time::sleep(self.poll_interval).await;
            }
            self.polls += 1;
            let pattern = self.pattern.clone();
            let listed = match tokio::task::spawn_blocking(move || list(&pattern)).await {
                Ok(listed) => listed,
                Err(e) => Err(SourceError::io(
                    "listing files",
                    std::io::Error::other(e.to_string()),
                )),
            };
            match listed {
                Ok(entries) => {
                    let mut current = HashSet::new();
                    for entry in entries {
                        match entry {
                            Ok(path) => {
                                if !self.seen.contains(&path) {
                                    self.ready.push_back(Ok(path.clone()));
                                }
                                current.insert(path);
                            }
                            Err(e) => self.ready.push_back(Err(e)),
                        }
                    }
                    self.seen = current;
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl Stream for Filenames {
    type Item = Result<PathBuf, SourceError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let (pattern, poll_interval) = (&this.pattern, this.poll_interval);
        let running = this.running.get_or_insert_with(|| {
            let lister = Lister {
                pattern: pattern.clone(),
                poll_interval,
                seen: HashSet::new(),
                ready: Default::default(),
                polls: 0,
                failed: false,
            };
            Box::pin(futures::stream::unfold(lister, |mut l| async move {
                let item = l.next().await?;
                Some((item, l))
            }))
        });
        running.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for Filenames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filenames")
            .field("pattern", &self.pattern)
            .field("poll_interval", &self.poll_interval)
            .field("started", &self.running.is_some())
            .finish()
    }
}
