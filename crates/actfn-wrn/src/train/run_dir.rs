//! The files of a run's folder: `config.ron` (activation, configuration, device),
//! `metrics.csv` (one row an epoch), `outcome.ron` (the [`TrainOutcome`]), and the
//! progress a checkpoint's `state.ron` records ([`CheckpointState`]).
//!
//! [`TrainOutcome`]: super::TrainOutcome

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::outcome::EpochMetrics;
use crate::error::{Result, WrnError};

/// What the run's `config.ron` holds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunRecord<'a> {
    pub activation: String,
    pub config: &'a TrainConfig,
    pub device: String,
}

/// What a checkpoint's `state.ron` records: which run it belongs to and how far it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// The activation, printed canonically.
    pub activation: String,
    /// The run's configuration; a checkpoint of another configuration is not resumed.
    pub config: TrainConfig,
    /// Epochs completed (the next epoch to run, counting from 0).
    pub epochs_done: usize,
    /// Optimizer steps taken.
    pub steps: u64,
    /// Metrics of the completed epochs.
    pub history: Vec<EpochMetrics>,
}

/// Writes `value` as pretty RON to `path` (run configurations beside their outputs).
pub fn save_ron<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = ron::ser::to_string_pretty(value, ron::ser::PrettyConfig::default())
        .map_err(|e| WrnError::InvalidConfig(format!("cannot serialise: {e}")))?;
    write_file(path, &text)
}

/// Writes `metrics.csv`: a header and one row per completed epoch.
pub(crate) fn write_metrics_csv(path: &Path, history: &[EpochMetrics]) -> Result<()> {
    let mut text = String::from("epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds\n");
    for m in history {
        text.push_str(&format!(
            "{},{},{},{},{},{},{:.3}\n",
            m.epoch, m.lr, m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.seconds
        ));
    }
    write_file(path, &text)
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).map_err(WrnError::io(path))
}
