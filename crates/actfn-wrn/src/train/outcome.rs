//! What a training run reports: its status, per-epoch metrics and final outcome.

use actfn_evo::{RecordStatus, TrainResult};
use serde::{Deserialize, Serialize};

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainStatus {
    /// Trained to the end with finite metrics.
    Ok,
    /// A loss became NaN or infinite.
    Diverged {
        /// The epoch (counting from 1) in which it happened.
        epoch: usize,
        /// What became non-finite.
        reason: String,
    },
    /// Training raised an error.
    Failed {
        /// The error.
        reason: String,
    },
}

impl TrainStatus {
    /// `ok`, `diverged` or `failed`.
    pub fn name(&self) -> &'static str {
        match self {
            TrainStatus::Ok => "ok",
            TrainStatus::Diverged { .. } => "diverged",
            TrainStatus::Failed { .. } => "failed",
        }
    }

    /// The reason of a diverged or failed run.
    pub fn reason(&self) -> Option<&str> {
        match self {
            TrainStatus::Ok => None,
            TrainStatus::Diverged { reason, .. } | TrainStatus::Failed { reason } => Some(reason),
        }
    }
}

/// Metrics of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch, counting from 1.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f64,
    /// Training accuracy over the epoch (in train mode, with dropout and flips).
    pub train_acc: f64,
    /// Validation loss (eval mode).
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_acc: f64,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
}

/// The result of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOutcome {
    /// Validation accuracy after the last epoch (NaN unless the run is `Ok`).
    pub val_acc: f64,
    /// Validation loss after the last epoch (NaN unless the run is `Ok`).
    pub val_loss: f64,
    /// Test accuracy after the last epoch, when test data was given and the run is `Ok`.
    pub test_acc: Option<f64>,
    /// Test loss, likewise.
    pub test_loss: Option<f64>,
    /// How the run ended.
    pub status: TrainStatus,
    /// Epochs completed (including those before a resume).
    pub epochs_run: usize,
    /// Wall-clock seconds of this invocation.
    pub seconds: f64,
    /// Per-epoch metrics.
    pub history: Vec<EpochMetrics>,
}

impl TrainOutcome {
    /// What `actfn train --json` prints and other programs read: the final metrics, a
    /// non-finite one left out, and the status.
    pub fn result(&self) -> TrainResult {
        let finite = |v: f64| v.is_finite().then_some(v);
        TrainResult {
            val_acc: finite(self.val_acc),
            val_loss: finite(self.val_loss),
            test_acc: self.test_acc,
            status: match self.status {
                TrainStatus::Ok => RecordStatus::Ok,
                TrainStatus::Diverged { .. } => RecordStatus::Diverged,
                TrainStatus::Failed { .. } => RecordStatus::Failed,
            },
            seconds: self.seconds,
        }
    }
}
