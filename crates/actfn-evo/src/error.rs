//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can stop a search. A candidate that fails to train is *not* an error:
/// it is a recorded [`Status::Failed`](crate::Status::Failed) or `Diverged` and the search
/// goes on.
#[derive(Debug, thiserror::Error)]
pub enum EvoError {
    /// A file or directory operation failed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error (in the message, so not also a `source`).
        error: std::io::Error,
    },
    /// A complete line of a records file is not a record.
    #[error("{}: line {line}: corrupt record: {message}", path.display())]
    CorruptRecord {
        /// The records file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A record does not belong to this search: another evaluator configuration, another
    /// search configuration, or another version of the planner.
    #[error("{}: line {line}: {message}", path.display())]
    ForeignRecord {
        /// The records file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What differs.
        message: String,
    },
    /// `config.ron` is missing: the search never started.
    #[error(
        "{}: no search configuration: the search stopped before it started (for example while preparing its data); run the original search command again",
        path.display()
    )]
    ConfigMissing {
        /// The configuration file that is not there.
        path: PathBuf,
    },
    /// `config.ron` cannot be read as a search configuration.
    #[error("{}: cannot parse the search configuration: {message}", path.display())]
    ConfigParse {
        /// The configuration file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The directory holds a search with another configuration.
    #[error("{} holds a search with a different configuration ({differences}); choose another directory or resume that search", path.display())]
    ConfigMismatch {
        /// The search directory.
        path: PathBuf,
        /// The differing fields, `path: stored -> requested`, separated by `; `.
        differences: String,
    },
    /// The evaluator's configuration hash differs from the one the search was started with.
    #[error("the evaluator's configuration hash {evaluator} differs from the search's {stored}: the task configuration or the evaluator's version changed")]
    ConfigHashMismatch {
        /// The hash stored with the search.
        stored: String,
        /// The hash of the evaluator at hand.
        evaluator: String,
    },
    /// The search configuration is not valid.
    #[error("invalid search configuration: {0}")]
    InvalidConfig(String),
    /// The fit target is not usable.
    #[error("invalid fit target `{target}`: {message}")]
    InvalidTarget {
        /// The target expression.
        target: String,
        /// What is wrong with it.
        message: String,
    },
    /// The evaluator broke its contract (reported a candidate twice, out of range, or not
    /// at all).
    #[error("evaluator protocol violation: {0}")]
    Protocol(String),
    /// The evaluator could not go on (data missing, device lost, ...). Nothing is recorded
    /// for the candidates it did not report; a resumed search evaluates them again.
    #[error("evaluator error: {0}")]
    Evaluator(Box<dyn std::error::Error + Send + Sync>),
    /// An expression past actfn-expr's size limits: a fit target, or a parent or child of
    /// the evolution operators.
    #[error(transparent)]
    Expr(#[from] actfn_expr::ExprError),
    /// A record or configuration could not be serialized.
    #[error("cannot serialize: {0}")]
    Serialize(String),
}

impl EvoError {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> EvoError {
        EvoError::Io {
            path: path.into(),
            error,
        }
    }
}
