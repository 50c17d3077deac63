//! The durable record of a search: one JSON object per line in `records.jsonl`, each
//! written, flushed and fsync'd before it counts.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::EvoError;

/// The address of a record: its generation and its index in that generation's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordId {
    /// The generation.
    pub generation: usize,
    /// The index in the generation's plan.
    pub index: usize,
}

/// How a candidate came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The next member of the space (exhaustive search).
    Enumerated,
    /// A random member of the space.
    Random,
    /// Selection, crossover and mutation.
    Child,
    /// Carried over from the previous generation (never trained again).
    Elite,
}

impl Origin {
    /// The name used in the records.
    pub fn name(self) -> &'static str {
        match self {
            Origin::Enumerated => "enumerated",
            Origin::Random => "random",
            Origin::Child => "child",
            Origin::Elite => "elite",
        }
    }
}

/// What became of a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Finite validation metrics.
    Ok,
    /// Training diverged (non-finite values).
    Diverged,
    /// The evaluation failed (panic, time-out, error).
    Failed,
    /// Degenerate (constant, or not finite on the probe grid), or, in a search with
    /// diversity, a near-duplicate of a member of its population: never trained.
    Rejected,
}

impl RecordStatus {
    /// The name used in the records.
    pub fn name(self) -> &'static str {
        match self {
            RecordStatus::Ok => "ok",
            RecordStatus::Diverged => "diverged",
            RecordStatus::Failed => "failed",
            RecordStatus::Rejected => "rejected",
        }
    }
}

/// One line of `records.jsonl`.
///
/// A record with `duplicate_of` set was not trained: it repeats the metrics of the record
/// it names, the first evaluation of a functionally equal candidate (for an elite, the
/// evaluation it carries over). A `rejected` record was not trained either. `slot` is the
/// candidate's place in the generation's population; a draw that was replaced by a fresh
/// one (degenerate or duplicate, with `replace_wasted`; a near-duplicate, with
/// diversity) has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The generation.
    pub generation: usize,
    /// The index in the generation's plan (replaced draws included).
    pub index: usize,
    /// The place in the generation's population, if the candidate holds one.
    pub slot: Option<usize>,
    /// How the candidate came to be.
    pub origin: Origin,
    /// The candidate in canonical text.
    pub expr: String,
    /// Its functional fingerprint.
    pub fingerprint: String,
    /// The training seed.
    pub seed: u64,
    /// The evaluator's configuration hash.
    pub config_hash: String,
    /// Validation accuracy (absent when not finite).
    pub val_acc: Option<f64>,
    /// Validation loss (absent when not finite).
    pub val_loss: Option<f64>,
    /// What became of it.
    pub status: RecordStatus,
    /// Why it diverged, failed or was rejected.
    pub reason: Option<String>,
    /// Epochs run (0 when not trained).
    pub epochs: u32,
    /// Seconds spent (0 when not trained).
    pub seconds: f64,
    /// The record whose metrics this one reuses (not trained).
    pub duplicate_of: Option<RecordId>,
    /// Where it was trained (`inline`, `local 2`, `slurm 1234_7`); absent in records
    /// written before workers existed and in records that were not trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// With successive halving, the rung the evaluation reached (0 = the first), its
    /// `epochs` being that rung's; a reused record repeats its original's. Absent in
    /// searches without halving (and in records written before it existed): those
    /// candidates all trained for the full budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rung: Option<usize>,
}

impl Record {
    /// The record's address.
    pub fn id(&self) -> RecordId {
        RecordId {
            generation: self.generation,
            index: self.index,
        }
    }

    /// Whether this record is an evaluation the evaluator performed (whatever its status).
    pub fn trained(&self) -> bool {
        self.duplicate_of.is_none() && self.status != RecordStatus::Rejected
    }

    /// How far the evaluation got, for ranking: candidates stopped at a lower rung rank
    /// below every candidate that went further, whatever their metrics. A record without
    /// a rung (no halving) trained the full budget and ranks with the last rung.
    pub fn progress(&self) -> usize {
        self.rung.unwrap_or(usize::MAX)
    }

    /// Whether the record has usable metrics.
    pub fn is_ok(&self) -> bool {
        self.status == RecordStatus::Ok && self.val_acc.is_some() && self.val_loss.is_some()
    }
}

/// The records of a search, in memory, and, unless in-memory only, appended durably to a
/// `records.jsonl` file.
#[derive(Debug)]
pub struct Journal {
    records: Vec<Record>,
    file: Option<(PathBuf, File)>,
    warnings: Vec<String>,
}

impl Journal {
    /// A journal that keeps its records in memory only.
    pub fn in_memory() -> Journal {
        Journal {
            records: Vec::new(),
            file: None,
            warnings: Vec::new(),
        }
    }

    /// Opens `path` (created if missing) for appending, after reading its records. A
    /// truncated last line (a write cut short by a kill) is dropped with a warning and cut
    /// off the file; a corrupt complete line is an error naming the file and line.
    pub fn open(path: &Path) -> Result<Journal, EvoError> {
        let (records, good_len, warnings) = read_records(path)?;
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(|e| EvoError::io(path, e))?;
        let len = file.metadata().map_err(|e| EvoError::io(path, e))?.len();
        if len != good_len {
            file.set_len(good_len).map_err(|e| EvoError::io(path, e))?;
            file.sync_all().map_err(|e| EvoError::io(path, e))?;
        }
        Ok(Journal {
            records,
            file: Some((path.to_path_buf(), file)),
            warnings,
        })
    }

    /// Reads the records of `path` without changing the file (a truncated last line is
    /// dropped with a warning).
    pub fn read(path: &Path) -> Result<Journal, EvoError> {
        let (records, _, warnings) = read_records(path)?;
        Ok(Journal {
            records,
            file: None,
            warnings,
        })
    }

    /// The records, in the order they were written.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(p, _)| p.as_path())
    }

    /// Warnings found while reading (a dropped truncated line).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Appends `record`: written, flushed and fsync'd before this returns. The record kept
    /// in memory (and returned) is the one read back from its JSON line, so a search that
    /// goes on sees exactly what a resumed search will read.
    pub fn append(&mut self, record: &Record) -> Result<&Record, EvoError> {
        let mut line =
            serde_json::to_string(record).map_err(|e| EvoError::Serialize(e.to_string()))?;
        let parsed: Record =
            serde_json::from_str(&line).map_err(|e| EvoError::Serialize(e.to_string()))?;
        line.push('\n');
        if let Some((path, file)) = &mut self.file {
            let before = file
                .metadata()
                .map_err(|e| EvoError::io(path.as_path(), e))?
                .len();
            let written = file
                .write_all(line.as_bytes())
                .and_then(|()| file.flush())
                .and_then(|()| file.sync_data());
            if let Err(e) = written {
                // Do not leave a partial line for the next record to be glued onto.
                let _ = file.set_len(before);
                return Err(EvoError::io(path.as_path(), e));
            }
        }
        self.records.push(parsed);
        Ok(self.records.last().expect("just pushed"))
    }
}

/// Reads `path`'s records; returns them with the length of the good prefix of the file.
fn read_records(path: &Path) -> Result<(Vec<Record>, u64, Vec<String>), EvoError> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes)
                .map_err(|e| EvoError::io(path, e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(EvoError::io(path, e)),
    }
    let mut records = Vec::new();
    let mut warnings = Vec::new();
    // One reader for `resume` and `report`: a record repeated anywhere in the file is
    // corrupt for both, so neither counts what the other would refuse.
    let mut first_line_of = std::collections::HashMap::new();
    let mut start = 0usize;
    let mut line_no = 0usize;
    while start < bytes.len() {
        line_no += 1;
        let Some(nl) = bytes[start..].iter().position(|&b| b == b'\n') else {
            warnings.push(format!(
                "{}: line {line_no}: dropped a truncated last line ({} bytes) left by an interrupted write",
                path.display(),
                bytes.len() - start
            ));
            break;
        };
        let line = &bytes[start..start + nl];
        if !line.iter().all(u8::is_ascii_whitespace) {
            let record: Record =
                serde_json::from_slice(line).map_err(|e| EvoError::CorruptRecord {
                    path: path.to_path_buf(),
                    line: line_no,
                    message: e.to_string(),
                })?;
            if let Some(first) = first_line_of.insert(record.id(), line_no) {
                return Err(EvoError::CorruptRecord {
                    path: path.to_path_buf(),
                    line: line_no,
                    message: format!(
                        "a second record for generation {} index {} (the first is on line {first})",
                        record.generation, record.index
                    ),
                });
            }
            records.push(record);
        }
        start += nl + 1;
    }
    Ok((records, start as u64, warnings))
}

/// Writes `records` as CSV with a header (the JSON fields; `duplicate_of` as
/// `generation:index`).
pub fn write_csv<W: Write>(records: &[Record], out: W) -> Result<(), EvoError> {
    let mut w = csv::Writer::from_writer(out);
    let err = |e: csv::Error| EvoError::Serialize(e.to_string());
    w.write_record([
        "generation",
        "index",
        "slot",
        "origin",
        "expr",
        "fingerprint",
        "seed",
        "config_hash",
        "val_acc",
        "val_loss",
        "status",
        "reason",
        "epochs",
        "seconds",
        "duplicate_of",
    ])
    .map_err(err)?;
    let opt = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
    for r in records {
        w.write_record([
            r.generation.to_string(),
            r.index.to_string(),
            r.slot.map_or_else(String::new, |s| s.to_string()),
            r.origin.name().to_string(),
            r.expr.clone(),
            r.fingerprint.clone(),
            r.seed.to_string(),
            r.config_hash.clone(),
            opt(r.val_acc),
            opt(r.val_loss),
            r.status.name().to_string(),
            r.reason.clone().unwrap_or_default(),
            r.epochs.to_string(),
            r.seconds.to_string(),
            r.duplicate_of
                .map_or_else(String::new, |d| format!("{}:{}", d.generation, d.index)),
        ])
        .map_err(err)?;
    }
    w.flush().map_err(|e| EvoError::Serialize(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize) -> Record {
        Record {
            generation: 0,
            index: i,
            slot: Some(i),
            origin: Origin::Random,
            expr: "mul(sigmoid(x), erf(x))".into(),
            fingerprint: "00ff".into(),
            seed: 1,
            config_hash: "abc".into(),
            val_acc: Some(0.1 * i as f64),
            val_loss: Some(1.0 / 3.0),
            status: RecordStatus::Ok,
            reason: None,
            epochs: 1,
            seconds: 0.5,
            duplicate_of: None,
            worker: None,
            rung: None,
        }
    }

    #[test]
    fn appends_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        let mut j = Journal::open(&path).unwrap();
        for i in 0..3 {
            j.append(&record(i)).unwrap();
        }
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.records(), &[record(0), record(1), record(2)]);
        assert!(j.warnings().is_empty());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"generation\":0,\"index\":0,\"slot\":0,\"origin\":\"random\""));
        assert!(text.contains("\"status\":\"ok\""));
    }

    #[test]
    fn the_rung_is_written_only_with_halving_and_old_lines_read_back() {
        // A line written before rungs (and workers) existed.
        let old = r#"{"generation":0,"index":1,"slot":1,"origin":"random","expr":"mul(sigmoid(x), erf(x))","fingerprint":"00ff","seed":1,"config_hash":"abc","val_acc":0.1,"val_loss":0.3333333333333333,"status":"ok","reason":null,"epochs":1,"seconds":0.5,"duplicate_of":null}"#;
        let back: Record = serde_json::from_str(old).unwrap();
        assert_eq!(back, record(1));
        assert_eq!(back.rung, None);
        assert_eq!(serde_json::to_string(&back).unwrap(), old);
        let halved = Record {
            rung: Some(2),
            ..record(1)
        };
        let line = serde_json::to_string(&halved).unwrap();
        assert!(line.ends_with(r#""duplicate_of":null,"rung":2}"#), "{line}");
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), halved);
        assert!(halved.progress() < back.progress());
    }

    #[test]
    fn drops_a_truncated_last_line_and_refuses_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        let mut j = Journal::open(&path).unwrap();
        j.append(&record(0)).unwrap();
        j.append(&record(1)).unwrap();
        drop(j);
        let good = std::fs::read(&path).unwrap();
        let mut cut = good.clone();
        let partial = serde_json::to_string(&record(2)).unwrap();
        cut.extend_from_slice(&partial.as_bytes()[..partial.len() / 2]);
        std::fs::write(&path, &cut).unwrap();
        // Reading leaves the file alone; opening cuts it back.
        let r = Journal::read(&path).unwrap();
        assert_eq!(r.records().len(), 2);
        assert!(r.warnings()[0].contains("line 3: dropped a truncated last line"));
        assert_eq!(std::fs::read(&path).unwrap(), cut);
        let mut j = Journal::open(&path).unwrap();
        assert_eq!(j.records().len(), 2);
        assert_eq!(std::fs::read(&path).unwrap(), good);
        j.append(&record(2)).unwrap();
        assert_eq!(Journal::read(&path).unwrap().records().len(), 3);
        // A corrupt line in the middle is an error naming the line.
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines[1] = "{\"generation\": oops";
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let err = Journal::open(&path).unwrap_err();
        assert!(
            matches!(err, EvoError::CorruptRecord { line: 2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("records.jsonl: line 2"));
    }

    #[test]
    fn a_record_repeated_mid_file_is_corrupt_for_every_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        let line = |i| serde_json::to_string(&record(i)).unwrap() + "\n";
        std::fs::write(&path, line(0) + &line(1) + &line(0) + &line(2)).unwrap();
        for err in [
            Journal::read(&path).unwrap_err(),
            Journal::open(&path).unwrap_err(),
        ] {
            let text = err.to_string();
            assert!(
                text.contains("line 3: corrupt record: a second record for generation 0 index 0 (the first is on line 1)"),
                "{text}"
            );
        }
        // Nothing was cut off the file.
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 4);
    }

    #[test]
    fn non_finite_metrics_are_absent_and_floats_round_trip() {
        let mut r = record(1);
        r.val_loss = None;
        r.val_acc = Some(0.1 + 0.2);
        let mut j = Journal::in_memory();
        let back = j.append(&r).unwrap().clone();
        assert_eq!(back, r);
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains("\"val_loss\":null"));
    }

    #[test]
    fn writes_csv() {
        let mut out = Vec::new();
        let mut r = record(1);
        r.duplicate_of = Some(RecordId {
            generation: 0,
            index: 0,
        });
        write_csv(&[record(0), r], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text.lines().nth(2).unwrap().ends_with(",1,0.5,0:0"));
        assert!(text.contains(",random,\"mul(sigmoid(x), erf(x))\","));
    }
}
