//! The crate's one error type, [`WrnError`].

use std::path::PathBuf;

/// Everything that can go wrong in actfn-wrn. Messages are lowercase and name the value.
#[derive(Debug, thiserror::Error)]
pub enum WrnError {
    /// A file or folder could not be read or written. (The I/O error is part of the message
    /// and deliberately not a `source`, so that `{:#}` chains do not print it twice.)
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    /// Data that cannot be read or used (actfn-data's message names the file).
    #[error(transparent)]
    Data(#[from] actfn_data::DataError),

    /// A data set name that names none of the data sources.
    #[error("unknown data set {0:?}; expected cifar10, cifar100, mnist, fashion-mnist, folder:PATH or npz:PATH")]
    UnknownDataset(String),

    /// A CIFAR name that is neither CIFAR-10 nor CIFAR-100.
    #[error("unknown data set {0:?}; expected cifar10 or cifar100")]
    UnknownCifar(String),

    /// A data file whose size is not a whole number of records.
    #[error("{}: {size} bytes is not a whole number of {record_len}-byte records", path.display())]
    BadFileSize {
        path: PathBuf,
        size: u64,
        record_len: usize,
    },

    /// A record whose label is out of range.
    #[error("{}: record {index}: {which} label {label} is out of range 0..{classes}", path.display())]
    BadLabel {
        path: PathBuf,
        index: usize,
        which: &'static str,
        label: u8,
        classes: usize,
    },

    /// A class-name file that does not list one name per class.
    #[error("{}: {found} class names, expected {expected}", path.display())]
    BadClassNames {
        path: PathBuf,
        found: usize,
        expected: usize,
    },

    /// A data set that is not in the data folder.
    #[error(
        "{dataset} is not in the data folder {}: missing {}; run `actfn data fetch {dataset} \
         --data-dir {}` first (add `--from PATH` to take the files from a copy you have)",
        data_dir.display(),
        missing.display(),
        data_dir.display()
    )]
    MissingData {
        dataset: String,
        data_dir: PathBuf,
        missing: PathBuf,
    },

    /// A data file that holds another number of records than the official release's
    /// (and is no known reduced release).
    #[error(
        "{}: {found} records, but the official file holds {expected}; pass --allow-partial to use it anyway",
        path.display()
    )]
    PartialData {
        path: PathBuf,
        found: usize,
        expected: usize,
    },

    /// A split that the data cannot satisfy.
    #[error("cannot split: {0}")]
    Split(String),

    /// A download that failed, with what to do instead.
    #[error(
        "cannot download {url}: {reason}; download it yourself and put it at {}, or run \
         `actfn data fetch {dataset} --from PATH_OR_URL`",
        fallback.display()
    )]
    Download {
        url: String,
        reason: String,
        dataset: String,
        fallback: PathBuf,
    },

    /// A downloaded file whose checksum is not the published one.
    #[error("{}: md5 {actual} differs from the published {expected}; the download is corrupt", path.display())]
    Checksum {
        path: PathBuf,
        actual: String,
        expected: String,
    },

    /// A tarball that is not the expected data set.
    #[error("{}: {reason}", path.display())]
    BadArchive { path: PathBuf, reason: String },

    /// A preprocessing that cannot be fitted as asked.
    #[error("preprocessing: {0}")]
    Preprocess(String),

    /// A tensor of the wrong shape or kind handed to a function of this crate.
    #[error("bad tensor: {0}")]
    Shape(String),

    /// A network shape that does not exist (depth not 6n + 4, ...).
    #[error("invalid model: {0}")]
    InvalidModel(String),

    /// A training configuration that cannot run.
    #[error("invalid training configuration: {0}")]
    InvalidConfig(String),

    /// A checkpoint that cannot be written, read or resumed.
    #[error("checkpoint: {0}")]
    Checkpoint(String),

    /// A candidate activation that libtorch could not run.
    #[error("activation {expr} failed: {error}")]
    Activation { expr: String, error: tch::TchError },

    /// An error from libtorch.
    #[error("libtorch: {0}")]
    Torch(tch::TchError),
}

impl From<tch::TchError> for WrnError {
    fn from(e: tch::TchError) -> Self {
        WrnError::Torch(e)
    }
}

impl WrnError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> WrnError {
        let path = path.into();
        move |error| WrnError::Io { path, error }
    }
}

/// The crate's result type.
pub type Result<T, E = WrnError> = std::result::Result<T, E>;
