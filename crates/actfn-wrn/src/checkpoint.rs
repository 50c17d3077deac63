//! Epoch-end checkpoints of a training run: weights and batch-norm statistics, SGD momentum
//! buffers and the run's progress, written so that a killed run resumes from its last
//! completed epoch.
//!
//! A checkpoint is the folder `checkpoint/` in the run's output folder, holding
//! `model.safetensors`, `momentum.safetensors` and `state.ron`. It is written to
//! `checkpoint.tmp/` first and then renamed into place (the previous one kept as
//! `checkpoint.old/` until the rename is done), so that a crash at any moment leaves one
//! complete checkpoint.
//!
//! Randomness needs no saved state: the trainer reseeds libtorch and the shuffle at the
//! start of every epoch from `(seed, epoch)`, so a resumed run draws what an uninterrupted
//! one would.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{nn::VarStore, Tensor};

use crate::error::{Result, WrnError};
use crate::train::{EpochMetrics, Sgd, TrainConfig};

/// What `state.ron` records.
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

const CURRENT: &str = "checkpoint";
const TMP: &str = "checkpoint.tmp";
const OLD: &str = "checkpoint.old";
const MODEL: &str = "model.safetensors";
const MOMENTUM: &str = "momentum.safetensors";
const STATE: &str = "state.ron";

/// Writes a checkpoint into `out_dir`.
pub fn save(out_dir: &Path, vs: &VarStore, sgd: &Sgd, state: &CheckpointState) -> Result<()> {
    let tmp = out_dir.join(TMP);
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(WrnError::io(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(WrnError::io(&tmp))?;
    vs.save(tmp.join(MODEL))?;
    let buffers = sgd.momentum_buffers();
    if !buffers.is_empty() {
        Tensor::write_safetensors(&buffers, tmp.join(MOMENTUM))?;
    }
    let text = ron::ser::to_string_pretty(state, ron::ser::PrettyConfig::default())
        .map_err(|e| WrnError::Checkpoint(format!("cannot serialise the state: {e}")))?;
    let state_path = tmp.join(STATE);
    fs::write(&state_path, text).map_err(WrnError::io(&state_path))?;

    let current = out_dir.join(CURRENT);
    let old = out_dir.join(OLD);
    if old.exists() {
        fs::remove_dir_all(&old).map_err(WrnError::io(&old))?;
    }
    if current.exists() {
        fs::rename(&current, &old).map_err(WrnError::io(&current))?;
    }
    fs::rename(&tmp, &current).map_err(WrnError::io(&tmp))?;
    if old.exists() {
        fs::remove_dir_all(&old).map_err(WrnError::io(&old))?;
    }
    Ok(())
}

/// The most recent complete checkpoint folder in `out_dir`, if any.
pub fn find(out_dir: &Path) -> Option<PathBuf> {
    [CURRENT, OLD]
        .iter()
        .map(|name| out_dir.join(name))
        .find(|dir| dir.join(STATE).is_file() && dir.join(MODEL).is_file())
}

/// Reads the state of the checkpoint in `dir`.
pub fn read_state(dir: &Path) -> Result<CheckpointState> {
    let path = dir.join(STATE);
    let text = fs::read_to_string(&path).map_err(WrnError::io(&path))?;
    ron::from_str(&text)
        .map_err(|e| WrnError::Checkpoint(format!("{}: cannot read: {e}", path.display())))
}

/// Loads the weights and momentum buffers of the checkpoint in `dir`.
pub fn load(dir: &Path, vs: &mut VarStore, sgd: &mut Sgd) -> Result<()> {
    vs.load(dir.join(MODEL))?;
    let momentum = dir.join(MOMENTUM);
    if momentum.is_file() {
        sgd.set_momentum_buffers(Tensor::read_safetensors(&momentum)?)?;
    }
    Ok(())
}
