//! The search directory: `config.ron`, written once and atomically, and the records file
//! beside it, opened to continue a search or only read.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::{differences, StoredConfig};
use crate::evaluator::Evaluator;
use crate::record::Journal;
use crate::EvoError;

/// The search configuration file of a search directory.
pub const CONFIG_FILE: &str = "config.ron";
/// The records file of a search directory.
pub const RECORDS_FILE: &str = "records.jsonl";

impl<T> StoredConfig<T> {
    /// Refuses an evaluator whose configuration hash differs from the stored one.
    pub fn check_evaluator(&self, evaluator: &dyn Evaluator) -> Result<(), EvoError> {
        let hash = evaluator.config_hash();
        if hash == self.config_hash {
            Ok(())
        } else {
            Err(EvoError::ConfigHashMismatch {
                stored: self.config_hash.clone(),
                evaluator: hash,
            })
        }
    }
}

/// Creates the search directory `dir` for `stored` (writing `config.ron` atomically) and
/// opens its records. If `dir` already holds a search with the same configuration, that
/// search is opened to be continued; one with another configuration is refused with an
/// error naming the differing fields.
pub fn create_dir<T: Serialize + DeserializeOwned>(
    dir: &Path,
    stored: &StoredConfig<T>,
) -> Result<Journal, EvoError> {
    stored.search.validate()?;
    let config_path = dir.join(CONFIG_FILE);
    let records_path = dir.join(RECORDS_FILE);
    if config_path.exists() {
        let existing: StoredConfig<T> = read_config(&config_path)?;
        let to_value = |c: &StoredConfig<T>| {
            serde_json::to_value(c).map_err(|e| EvoError::Serialize(e.to_string()))
        };
        let diff = differences(&to_value(&existing)?, &to_value(stored)?);
        if !diff.is_empty() {
            return Err(EvoError::ConfigMismatch {
                path: dir.to_path_buf(),
                differences: diff.join("; "),
            });
        }
        return Journal::open(&records_path);
    }
    if records_path.exists() {
        return Err(EvoError::ConfigParse {
            path: config_path,
            message: format!("missing, but {} exists", records_path.display()),
        });
    }
    // Checked before the directory is made: a config that would not read back is refused.
    let text = stored.to_ron()?;
    fs::create_dir_all(dir).map_err(|e| EvoError::io(dir, e))?;
    let tmp = dir.join(format!("{CONFIG_FILE}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    };
    write().map_err(|e| EvoError::io(&tmp, e))?;
    fs::rename(&tmp, &config_path).map_err(|e| EvoError::io(&config_path, e))?;
    let journal = Journal::open(&records_path)?;
    sync_dir(dir)?;
    Ok(journal)
}

/// Opens the search in `dir` to continue it: its configuration and its records (a
/// truncated last line is cut off the file, with a warning in the journal).
pub fn open_dir<T: DeserializeOwned>(dir: &Path) -> Result<(StoredConfig<T>, Journal), EvoError> {
    let stored = read_config(&dir.join(CONFIG_FILE))?;
    let journal = Journal::open(&dir.join(RECORDS_FILE))?;
    Ok((stored, journal))
}

/// Reads the search in `dir` without changing anything.
pub fn read_dir<T: DeserializeOwned>(dir: &Path) -> Result<(StoredConfig<T>, Journal), EvoError> {
    let stored = read_config(&dir.join(CONFIG_FILE))?;
    let journal = Journal::read(&dir.join(RECORDS_FILE))?;
    Ok((stored, journal))
}

fn read_config<T: DeserializeOwned>(path: &Path) -> Result<StoredConfig<T>, EvoError> {
    let text = fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            // The configuration is written once the evaluator is ready: a search killed
            // while preparing its data has none, and nothing to continue.
            EvoError::ConfigMissing {
                path: path.to_path_buf(),
            }
        } else {
            EvoError::io(path, e)
        }
    })?;
    ron::from_str(&text).map_err(|e| EvoError::ConfigParse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn sync_dir(dir: &Path) -> Result<(), EvoError> {
    // Makes the new directory entries durable (a no-op where directories cannot be opened).
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
