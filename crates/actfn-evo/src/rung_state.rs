//! The results of a generation's rungs below the last, kept by the search until every
//! candidate has its record: `DIR/work/g{G}/rungs.json`, rewritten atomically (temporary
//! file, fsync, rename, fsync of the folder) after each result.
//!
//! Records are written only for candidates whose training is over (stopped at a rung, or
//! at the full budget), so this file is what a search killed in the middle of a rung
//! resumes from: the results it holds are not evaluated again, and who goes on is
//! decided again from the same results. Metrics are stored as bit patterns, so a resumed
//! search ranks and records exactly the values training produced.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::evaluator::{Evaluation, Status};
use crate::EvoError;

/// File name of a generation's rung results inside its work folder.
pub const RUNGS_FILE: &str = "rungs.json";

/// The rung-results file of `generation` in the search directory `search`.
pub fn rungs_path(search: &Path, generation: usize) -> PathBuf {
    search
        .join("work")
        .join(format!("g{generation}"))
        .join(RUNGS_FILE)
}

/// One candidate's result at one rung.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RungResult {
    expr: String,
    val_acc_bits: u64,
    val_loss_bits: u64,
    status: Status,
    epochs: u32,
    seconds: f64,
    worker: Option<String>,
}

/// The results of one rung, by plan index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Rung {
    epochs: u32,
    results: BTreeMap<usize, RungResult>,
}

/// The rung results of one generation, in memory and, for a search with a directory, on
/// disk (see the module).
#[derive(Debug)]
pub struct RungState {
    path: Option<PathBuf>,
    rungs: Vec<Rung>,
}

impl RungState {
    /// The state for rungs of `epochs` (all but the last), read from `path` when it
    /// exists; refused when the file's rungs differ (it belongs to another search).
    pub fn open(path: Option<PathBuf>, epochs: &[u32]) -> Result<RungState, EvoError> {
        let fresh = || {
            epochs
                .iter()
                .map(|&epochs| Rung {
                    epochs,
                    results: BTreeMap::new(),
                })
                .collect()
        };
        let rungs = match &path {
            Some(p) if p.exists() => {
                let text = fs::read(p).map_err(|e| EvoError::io(p, e))?;
                let rungs: Vec<Rung> =
                    serde_json::from_slice(&text).map_err(|e| EvoError::ConfigParse {
                        path: p.clone(),
                        message: e.to_string(),
                    })?;
                let stored: Vec<u32> = rungs.iter().map(|r| r.epochs).collect();
                if stored != epochs {
                    return Err(EvoError::ConfigParse {
                        path: p.clone(),
                        message: format!(
                            "it holds rungs of {stored:?} epochs, this search's are {epochs:?}"
                        ),
                    });
                }
                rungs
            }
            _ => fresh(),
        };
        Ok(RungState { path, rungs })
    }

    /// The result of plan index `index` at rung `rung`, if there is one; refused when it
    /// is another candidate's.
    pub fn get(
        &self,
        rung: usize,
        index: usize,
        expr: &str,
    ) -> Result<Option<Evaluation>, EvoError> {
        let Some(r) = self.rungs.get(rung).and_then(|r| r.results.get(&index)) else {
            return Ok(None);
        };
        if r.expr != expr {
            return Err(EvoError::Protocol(format!(
                "the rung results of index {index} hold `{}`, but the search plans `{expr}` \
                 there: the work folder belongs to another search",
                r.expr
            )));
        }
        Ok(Some(Evaluation {
            val_acc: f64::from_bits(r.val_acc_bits),
            val_loss: f64::from_bits(r.val_loss_bits),
            status: r.status.clone(),
            epochs: r.epochs,
            seconds: r.seconds,
            worker: r.worker.clone(),
        }))
    }

    /// Stores the result of `index` at `rung` and writes the file before returning.
    pub fn put(
        &mut self,
        rung: usize,
        index: usize,
        expr: &str,
        e: &Evaluation,
    ) -> Result<(), EvoError> {
        let Some(r) = self.rungs.get_mut(rung) else {
            return Err(EvoError::Protocol(format!("no rung {rung} below the last")));
        };
        r.results.insert(
            index,
            RungResult {
                expr: expr.to_string(),
                val_acc_bits: e.val_acc.to_bits(),
                val_loss_bits: e.val_loss.to_bits(),
                status: e.status.clone(),
                epochs: e.epochs,
                seconds: e.seconds,
                worker: e.worker.clone(),
            },
        );
        self.save()
    }

    fn save(&self) -> Result<(), EvoError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| EvoError::io(dir, e))?;
        let mut text = serde_json::to_vec_pretty(&self.rungs)
            .map_err(|e| EvoError::Serialize(e.to_string()))?;
        text.push(b'\n');
        let tmp = path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()
        };
        write().map_err(|e| EvoError::io(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| EvoError::io(path, e))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_bit_across_a_reopen_and_refuses_another_search() {
        let dir = tempfile::tempdir().unwrap();
        let path = rungs_path(dir.path(), 3);
        let mut state = RungState::open(Some(path.clone()), &[1, 3]).unwrap();
        let e = Evaluation {
            val_acc: 0.1 + 0.2,
            val_loss: f64::NAN,
            status: Status::Diverged {
                reason: "nan".into(),
            },
            epochs: 1,
            seconds: 0.5,
            worker: Some("inline".into()),
        };
        state.put(0, 4, "tanh(x)", &e).unwrap();
        let back = RungState::open(Some(path.clone()), &[1, 3]).unwrap();
        let got = back.get(0, 4, "tanh(x)").unwrap().unwrap();
        assert_eq!(got.val_acc.to_bits(), e.val_acc.to_bits());
        assert!(got.val_loss.is_nan());
        assert_eq!(got.status, e.status);
        assert!(back.get(1, 4, "tanh(x)").unwrap().is_none());
        assert!(back.get(0, 4, "relu(x)").is_err());
        let err = RungState::open(Some(path), &[2, 6])
            .unwrap_err()
            .to_string();
        assert!(err.contains("rungs of [1, 3] epochs"), "{err}");
    }
}
