//! Evolutionary search for activation functions (Bingham, Macke and Miikkulainen,
//! GECCO 2020): the mutation and crossover operators, softmax fitness and
//! fitness-proportional selection, the exhaustive, random and evolution strategies, and
//! a durable, resumable record of every evaluation.
//!
//! The search never knows what training is: it hands whole generations to an
//! [`Evaluator`] and records each [`Evaluation`] as soon as it is reported. A cheap
//! built-in evaluator, [`FitEvaluator`], scores a candidate by how well it fits a target
//! function; the WRN trainer lives in `actfn-wrn`.
//!
//! **Invariants.** Generation `g`'s candidates are a pure function of the search
//! configuration and the records of generations `< g` (all randomness of `g` comes from a
//! ChaCha8 stream keyed by `(seed, g)`), so resuming a killed search replays its records,
//! re-plans the current generation and evaluates only what has no record yet. A
//! candidate functionally equal to one already evaluated, or degenerate, is never trained.
//!
//! This crate is pure: no torch, no clap.

pub mod config;
mod diversity;
pub mod error;
pub mod evaluator;
pub mod fit;
pub mod halving;
pub mod operators;
pub mod record;
pub mod rung_state;
pub mod search;
pub mod summary;
pub mod task;
pub mod train_result;

pub use config::{
    EvolutionConfig, FitnessMetric, HalvingConfig, SearchConfig, StoredConfig, Strategy,
    MAX_GENERATION_SIZE, MAX_REDRAWS,
};
pub use error::EvoError;
pub use evaluator::{guarded, Candidate, Evaluation, Evaluator, Job, Status};
pub use fit::{FitConfig, FitEvaluator, MAX_GRID_POINTS};
pub use operators::{crossover, mutate, select, softmax_fitness};
pub use record::{write_csv, Journal, Origin, Record, RecordId, RecordStatus};
pub use search::{
    create_dir, open_dir, read_dir, run_search, Event, SearchOutcome, CONFIG_FILE, RECORDS_FILE,
};
pub use summary::{summarize, GenerationStats, Summary, TopEntry};
pub use task::{AnyTask, TaskConfig};
pub use train_result::TrainResult;

/// The project's stable hash (actfn-expr's), re-exported where configuration hashes are
/// made: evaluators hash their configuration with it.
pub use actfn_expr::stable_hash;
