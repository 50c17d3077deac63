//! The crate's one error type, [`DataError`].

use std::path::{Path, PathBuf};

/// Everything that can go wrong reading labelled samples. Each message is one line that
/// names the file (or folder) at fault.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be read or written. (The I/O error is part of the message
    /// and deliberately not a `source`, so that `{:#}` chains do not print it twice.)
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    /// A file or folder whose content cannot be used as data: what is wrong with it.
    #[error("{}: {reason}", path.display())]
    Bad { path: PathBuf, reason: String },

    /// Samples that do not fit together (shapes, kinds, lengths), not tied to one file.
    #[error("{0}")]
    Mismatch(String),
}

/// Result of this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    /// A closure turning an I/O error on `path` into a [`DataError::Io`].
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
        move |error| DataError::Io {
            path: path.to_owned(),
            error,
        }
    }

    /// A [`DataError::Bad`] about `path`.
    pub fn bad(path: &Path, reason: impl Into<String>) -> DataError {
        DataError::Bad {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }
}
