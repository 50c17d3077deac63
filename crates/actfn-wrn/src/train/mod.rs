//! Training and evaluation of a network with a candidate activation: SGD with Nesterov momentum
//! and a multi-step learning-rate schedule, seeded, checkpointed at every epoch end, and
//! reporting a candidate that diverges or fails as a status, never a crash.
//!
//! The trainer works on plain tensors ([`TrainData`]): images f32 `[N, C, H, W]` or
//! vectors `[N, D]` (already preprocessed), labels i64 `[N]`. [`crate::data::prepare()`] makes them.
//!
//! - [`config`]: [`TrainConfig`] and the paper's presets, [`PrecheckConfig`];
//! - [`outcome`]: how a run ended ([`TrainStatus`], [`EpochMetrics`], [`TrainOutcome`]);
//! - [`sgd`]: the optimizer;
//! - [`precheck`]: the divergence pre-check before a training;
//! - [`run_dir`]: the files of a run's folder;
//! - [`trainer`]: an epoch's seeded batches, the network and its optimizer, one epoch of
//!   steps, [`evaluate`];
//! - [`run`]: the training loop, [`train`].
//!
//! Files depend one way: `run` on `precheck` and `trainer`, `precheck` on `trainer`, all
//! on `config`.

pub mod config;
pub mod outcome;
pub mod precheck;
pub mod run;
pub mod run_dir;
pub mod sgd;
pub mod trainer;

pub use crate::data::TrainData;
pub use config::TrainConfig;
pub use outcome::{EpochMetrics, TrainOutcome, TrainStatus};
pub use precheck::{precheck, PrecheckConfig, PrecheckReport};
pub use run::{cuda_device_count, set_threads, train, RunOptions};
pub use run_dir::{save_ron, CheckpointState};
pub use sgd::Sgd;
pub use trainer::evaluate;
