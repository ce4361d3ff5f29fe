//! Sinks that write to the world: text files, and the connector publishers behind their
//! features.
//!
//! ```
//! use rivulet::prelude::*;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("rivulet-doc-sinks-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("numbers.txt");
//! # let _ = std::fs::remove_file(&path);
//! futures::stream::iter(1..=3).sink_to_textfile(&path).await?;
//! assert_eq!(std::fs::read_to_string(&path)?, "1\n2\n3\n");
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

mod textfile;

pub use textfile::TextFileSink;
