//! The intent journal: what the controller is about to submit, what it submitted and which
//! attempts ended, one fsync'd JSON line per event, appended only.
//!
//! The order of writes is what makes a restart safe. An `intent` line precedes every
//! sbatch and names the job it will create; a `submitted` line follows with the job id.
//! After a kill between the two, the next controller looks the job up by its name instead
//! of submitting it again.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{ClusterError, Result};

/// File name of the journal inside the runner's directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JournalEvent {
    /// First line: the journal's id (part of every job name) and the number of tasks.
    Open { id: String, tasks: usize },
    /// About to run sbatch for `indices` as job `name`, array index = index - `offset`.
    Intent {
        batch: usize,
        name: String,
        offset: usize,
        indices: Vec<usize>,
    },
    /// sbatch returned `job` for `batch`; `recovered` when a restarted controller found it
    /// by name.
    Submitted {
        batch: usize,
        job: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        recovered: bool,
    },
    /// `batch` was never submitted (sbatch failed, or no job of its name existed after a
    /// restart).
    Abandoned { batch: usize, why: String },
    /// The attempt of `index` in `job` ended without publishing its result.
    Ended {
        index: usize,
        job: String,
        reason: String,
    },
}

/// One batch of the journal: an intent and, once known, its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub batch: usize,
    pub name: String,
    pub offset: usize,
    pub indices: Vec<usize>,
    /// The array job id; `None` while only the intent is known.
    pub job: Option<String>,
    /// Whether the batch was given up before it was submitted.
    pub abandoned: bool,
}

/// The journal of one run directory, read at open and appended to afterwards.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    id: String,
    tasks: usize,
    batches: Vec<Submission>,
    /// (index, job) pairs whose attempt ended without a result.
    ended: Vec<(usize, String, String)>,
    /// Lines in the file, for error messages.
    lines: usize,
}

impl Journal {
    /// Opens (or creates) the journal in `dir` for a run of `tasks` tasks. A cut-off last
    /// line (a kill mid-write) is dropped and cut from the file, so the next event starts
    /// on a line of its own.
    pub fn open(dir: &Path, tasks: usize) -> Result<Self> {
        let path = dir.join(JOURNAL_FILE);
        let events = read_events(&path, true)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| ClusterError::io("open", &path, e))?;
        let mut journal = Self {
            path,
            file,
            id: String::new(),
            tasks,
            batches: Vec::new(),
            ended: Vec::new(),
            lines: events.len(),
        };
        if events.is_empty() {
            journal.record(JournalEvent::Open {
                id: fresh_id(),
                tasks,
            })?;
        }
        for (line, event) in events.into_iter().enumerate() {
            journal.apply(event, line + 1)?;
        }
        Ok(journal)
    }

    /// Every event of the journal in `dir` (for reports and tests).
    pub fn events(dir: &Path) -> Result<Vec<JournalEvent>> {
        read_events(&dir.join(JOURNAL_FILE), false)
    }

    /// The journal's id, part of every job name.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Every batch, in order.
    pub fn submissions(&self) -> &[Submission] {
        &self.batches
    }

    /// Number of the next batch.
    pub(crate) fn next_batch(&self) -> usize {
        self.batches.len()
    }

    /// Attempts of `index` that reached Slurm.
    pub fn attempts(&self, index: usize) -> u32 {
        let n = self
            .batches
            .iter()
            .filter(|b| b.job.is_some() && b.indices.binary_search(&index).is_ok())
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The batch whose job holds the current attempt of `index`, unless that attempt ended.
    pub(crate) fn live_batch(&self, index: usize) -> Option<&Submission> {
        let last = self
            .batches
            .iter()
            .rev()
            .find(|b| b.job.is_some() && b.indices.binary_search(&index).is_ok())?;
        let job = last.job.as_deref()?;
        let ended = self.ended.iter().any(|(i, j, _)| *i == index && j == job);
        (!ended).then_some(last)
    }

    /// Why the last attempt of `index` ended, if one did.
    pub(crate) fn last_reason(&self, index: usize) -> Option<&str> {
        self.ended
            .iter()
            .rev()
            .find(|(i, _, _)| *i == index)
            .map(|(_, _, r)| r.as_str())
    }

    /// Batches with an intent and neither a job nor an abandonment.
    pub(crate) fn unresolved(&self) -> Vec<Submission> {
        self.batches
            .iter()
            .filter(|b| b.job.is_none() && !b.abandoned)
            .cloned()
            .collect()
    }

    pub(crate) fn record(&mut self, event: JournalEvent) -> Result<()> {
        self.append(&event)?;
        self.lines += 1;
        self.apply(event, self.lines)
    }

    fn append(&mut self, event: &JournalEvent) -> Result<()> {
        let mut line = serde_json::to_string(event).map_err(|e| ClusterError::Journal {
            path: self.path.clone(),
            line: 0,
            why: e.to_string(),
        })?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| ClusterError::io("append to", &self.path, e))
    }

    fn apply(&mut self, event: JournalEvent, line: usize) -> Result<()> {
        let bad = |why: String| ClusterError::Journal {
            path: self.path.clone(),
            line,
            why,
        };
        match event {
            JournalEvent::Open { id, tasks } => {
                if tasks != self.tasks {
                    return Err(ClusterError::TaskCountMismatch {
                        path: self.path.clone(),
                        journal: tasks,
                        given: self.tasks,
                    });
                }
                self.id = id;
            }
            JournalEvent::Intent {
                batch,
                name,
                offset,
                mut indices,
            } => {
                if batch != self.batches.len() {
                    return Err(bad(format!(
                        "intent for batch {batch}, expected {}",
                        self.batches.len()
                    )));
                }
                if let Some(&i) = indices.iter().find(|&&i| i >= self.tasks || i < offset) {
                    return Err(bad(format!(
                        "index {i} out of range for {} tasks",
                        self.tasks
                    )));
                }
                indices.sort_unstable();
                self.batches.push(Submission {
                    batch,
                    name,
                    offset,
                    indices,
                    job: None,
                    abandoned: false,
                });
            }
            JournalEvent::Submitted { batch, job, .. } => {
                let b = self
                    .batches
                    .get_mut(batch)
                    .ok_or_else(|| bad(format!("job {job} for unknown batch {batch}")))?;
                b.job = Some(job);
            }
            JournalEvent::Abandoned { batch, .. } => {
                let b = self
                    .batches
                    .get_mut(batch)
                    .ok_or_else(|| bad(format!("unknown batch {batch} abandoned")))?;
                b.abandoned = true;
            }
            JournalEvent::Ended { index, job, reason } => self.ended.push((index, job, reason)),
        }
        Ok(())
    }
}

/// Reads the events of `path` (none when it does not exist). A last line without its
/// newline that does not parse is a cut-off write: dropped, and cut from the file when
/// `repair` is set. Any other bad line is an error naming it.
fn read_events(path: &Path, repair: bool) -> Result<Vec<JournalEvent>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ClusterError::io("read", path, e)),
    };
    let mut events = Vec::new();
    let mut good_len = 0usize;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (n, raw) in lines.iter().enumerate() {
        let complete = raw.ends_with('\n');
        let parsed = serde_json::from_str::<JournalEvent>(raw.trim_end());
        if !complete {
            // Only the last line can lack its newline: a write cut off by a kill. Even if
            // it parses, it was never fsync'd as a whole, so it does not count.
            eprintln!(
                "actfn-cluster: dropping the cut-off last line of {}",
                path.display()
            );
            if repair {
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| ClusterError::io("open", path, e))?;
                file.set_len(good_len as u64)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| ClusterError::io("truncate", path, e))?;
            }
            break;
        }
        match parsed {
            Ok(event) => {
                events.push(event);
                good_len += raw.len();
            }
            Err(e) => {
                return Err(ClusterError::Journal {
                    path: path.to_path_buf(),
                    line: n + 1,
                    why: e.to_string(),
                })
            }
        }
    }
    Ok(events)
}

/// An id unlikely to repeat between journals: time and process id.
fn fresh_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 40);
    format!("{:08x}", mixed & 0xffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_cut_off_line_and_tracks_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), 3).unwrap();
        let id = j.id().to_string();
        j.record(JournalEvent::Intent {
            batch: 0,
            name: "n-0".into(),
            offset: 0,
            indices: vec![0, 1, 2],
        })
        .unwrap();
        j.record(JournalEvent::Submitted {
            batch: 0,
            job: "7".into(),
            recovered: false,
        })
        .unwrap();
        j.record(JournalEvent::Ended {
            index: 1,
            job: "7".into(),
            reason: "FAILED".into(),
        })
        .unwrap();
        drop(j);
        let path = dir.path().join(JOURNAL_FILE);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"event\":\"intent\",\"bat").unwrap();
        drop(f);

        let mut j = Journal::open(dir.path(), 3).unwrap();
        assert_eq!(j.id(), id);
        assert_eq!(j.attempts(1), 1);
        assert!(j.live_batch(0).is_some());
        assert!(j.live_batch(1).is_none());
        assert_eq!(j.last_reason(1), Some("FAILED"));
        j.record(JournalEvent::Intent {
            batch: 1,
            name: "n-1".into(),
            offset: 0,
            indices: vec![1],
        })
        .unwrap();
        assert_eq!(j.unresolved().len(), 1);
        drop(j);
        assert_eq!(Journal::events(dir.path()).unwrap().len(), 5);

        let err = Journal::open(dir.path(), 4).unwrap_err().to_string();
        assert!(err.contains("3 tasks, not 4"), "{err}");
    }

    #[test]
    fn names_a_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(JOURNAL_FILE),
            "{\"event\":\"open\",\"id\":\"a\",\"tasks\":1}\nnot json\n",
        )
        .unwrap();
        let err = Journal::open(dir.path(), 1).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
