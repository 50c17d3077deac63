//! Epoch-end checkpoints of a training run: weights and batch-norm statistics, optimizer
//! momentum buffers and the run's progress, written so that a killed run resumes from its
//! last completed epoch.
//!
//! A checkpoint is the folder `checkpoint/` in the run's output folder, holding
//! `model.safetensors`, `momentum.safetensors` and `state.ron`. It is written to
//! `checkpoint.tmp/` first and then renamed into place (the previous one kept as
//! `checkpoint.old/` until the rename is done), so that a crash at any moment leaves one
//! complete checkpoint.
//!
//! This module knows the folder's layout only; what `state.ron` holds is the trainer's
//! (`train::CheckpointState`). Randomness needs no saved state: the trainer reseeds
//! libtorch and the shuffle at the start of every epoch from `(seed, epoch)`, so a resumed
//! run draws what an uninterrupted one would.

use std::fs;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tch::{nn::VarStore, Tensor};

use crate::error::{Result, WrnError};

const CURRENT: &str = "checkpoint";
const TMP: &str = "checkpoint.tmp";
const OLD: &str = "checkpoint.old";
const MODEL: &str = "model.safetensors";
const MOMENTUM: &str = "momentum.safetensors";
const STATE: &str = "state.ron";

/// Writes a checkpoint into `out_dir`: the variables of `vs`, the optimizer's momentum
/// buffers by parameter name (no file when there are none) and `state`.
pub fn save<S: Serialize>(
    out_dir: &Path,
    vs: &VarStore,
    momentum: &[(String, Tensor)],
    state: &S,
) -> Result<()> {
    let tmp = out_dir.join(TMP);
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(WrnError::io(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(WrnError::io(&tmp))?;
    vs.save(tmp.join(MODEL))?;
    if !momentum.is_empty() {
        Tensor::write_safetensors(momentum, tmp.join(MOMENTUM))?;
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

/// Removes every checkpoint folder of `out_dir` (the current one, and any left by a
/// killed writer): for a run that will not be continued, whose weights are no longer
/// needed. A folder that does not exist is not an error.
pub fn remove(out_dir: &Path) -> Result<()> {
    for name in [CURRENT, TMP, OLD] {
        let dir = out_dir.join(name);
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(WrnError::io(&dir)(e)),
        }
    }
    Ok(())
}

/// Reads the state of the checkpoint in `dir`.
pub fn read_state<S: DeserializeOwned>(dir: &Path) -> Result<S> {
    let path = dir.join(STATE);
    let text = fs::read_to_string(&path).map_err(WrnError::io(&path))?;
    ron::from_str(&text)
        .map_err(|e| WrnError::Checkpoint(format!("{}: cannot read: {e}", path.display())))
}

/// Loads the weights of the checkpoint in `dir` into `vs`, and returns its momentum
/// buffers by parameter name (`None` when it saved none).
pub fn load(dir: &Path, vs: &mut VarStore) -> Result<Option<Vec<(String, Tensor)>>> {
    vs.load(dir.join(MODEL))?;
    let momentum = dir.join(MOMENTUM);
    if !momentum.is_file() {
        return Ok(None);
    }
    Ok(Some(Tensor::read_safetensors(&momentum)?))
}
