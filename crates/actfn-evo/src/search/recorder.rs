//! Recording: the records of planned candidates, and the [`Recorder`] that hands jobs to
//! the evaluator and turns its reports into durable records (or, below the last rung of
//! halving, into the rung state).

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::evaluator::{panic_message, Candidate, Evaluation, Evaluator, Job, Status};
use crate::record::{Journal, Record, RecordId, RecordStatus};
use crate::rung_state::RungState;
use crate::EvoError;

use super::event::Event;
use super::plan::Entry;

/// The fields every record of `entry` shares.
pub(super) fn base_record(g: usize, i: usize, entry: &Entry, seed: u64, hash: &str) -> Record {
    Record {
        generation: g,
        index: i,
        slot: entry.slot,
        origin: entry.origin,
        expr: entry.text.clone(),
        fingerprint: entry.fingerprint.to_string(),
        seed,
        config_hash: hash.to_string(),
        val_acc: None,
        val_loss: None,
        status: RecordStatus::Rejected,
        reason: None,
        epochs: 0,
        seconds: 0.0,
        duplicate_of: None,
        worker: None,
        rung: None,
    }
}

/// The record of an evaluation the evaluator performed.
#[allow(clippy::too_many_arguments)]
pub(super) fn evaluated_record(
    g: usize,
    index: usize,
    entry: &Entry,
    seed: u64,
    hash: &str,
    ev: Evaluation,
    rung: Option<usize>,
    earlier_seconds: f64,
) -> Record {
    let (status, reason) = match ev.status {
        Status::Ok => (RecordStatus::Ok, None),
        Status::Diverged { reason } => (RecordStatus::Diverged, Some(reason)),
        Status::Failed { reason } => (RecordStatus::Failed, Some(reason)),
    };
    let finite = |v: f64| v.is_finite().then_some(v);
    Record {
        val_acc: finite(ev.val_acc),
        val_loss: finite(ev.val_loss),
        status,
        reason,
        epochs: ev.epochs,
        seconds: finite(ev.seconds).unwrap_or(0.0) + earlier_seconds,
        worker: ev.worker,
        rung,
        ..base_record(g, index, entry, seed, hash)
    }
}

/// Turns the evaluator's reports into durable records.
pub(super) struct Recorder<'a> {
    pub(super) generation: usize,
    pub(super) plan: &'a [Entry],
    /// Plan indices of the jobs handed to the evaluator.
    pub(super) pending: &'a [usize],
    pub(super) done: Vec<bool>,
    pub(super) seed: u64,
    pub(super) hash: &'a str,
    pub(super) journal: &'a mut Journal,
    pub(super) records: &'a mut HashMap<RecordId, Record>,
    pub(super) observer: &'a mut dyn FnMut(Event<'_>),
    /// Halving: the rung's epochs (the evaluator is asked to stop there).
    pub(super) epochs: Option<u32>,
    /// Halving: the rung's index, for the records.
    pub(super) rung: Option<usize>,
    /// Halving, below the last rung: results go here instead of the records.
    pub(super) rung_state: Option<&'a mut RungState>,
    /// Halving: seconds the candidates of `pending` spent at earlier rungs.
    pub(super) earlier_seconds: Vec<f64>,
}

impl Recorder<'_> {
    fn record(&mut self, i: usize, evaluation: Evaluation) -> Result<(), EvoError> {
        if i >= self.pending.len() {
            return Err(EvoError::Protocol(format!(
                "reported candidate {i} of a batch of {}",
                self.pending.len()
            )));
        }
        if self.done[i] {
            return Err(EvoError::Protocol(format!("reported candidate {i} twice")));
        }
        let index = self.pending[i];
        let entry = &self.plan[index];
        let ev = evaluation.sanitized();
        if let (Some(state), Some(rung)) = (&mut self.rung_state, self.rung) {
            state.put(rung, index, &entry.text, &ev)?;
            self.done[i] = true;
            return Ok(());
        }
        let record = evaluated_record(
            self.generation,
            index,
            entry,
            self.seed,
            self.hash,
            ev,
            self.rung,
            self.earlier_seconds.get(i).copied().unwrap_or(0.0),
        );
        let written = self.journal.append(&record)?;
        (self.observer)(Event::Recorded(written));
        self.records.insert(written.id(), written.clone());
        self.done[i] = true;
        Ok(())
    }

    pub(super) fn evaluate(&mut self, evaluator: &mut dyn Evaluator) -> Result<(), EvoError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let jobs: Vec<Job> = self
            .pending
            .iter()
            .map(|&index| Job {
                id: RecordId {
                    generation: self.generation,
                    index,
                },
                candidate: Candidate {
                    expr: self.plan[index].expr.clone(),
                    seed: self.seed,
                },
                until_epoch: self.epochs,
            })
            .collect();
        let result = caught(|| evaluator.evaluate(&jobs, &mut |i, ev| self.record(i, ev)));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                // Which job panicked is unknown: evaluate the unreported ones one at a
                // time, and record the one that panics again as failed.
                for i in 0..jobs.len() {
                    if self.done[i] {
                        continue;
                    }
                    let result = caught(|| {
                        evaluator.evaluate(&jobs[i..=i], &mut |j, ev| {
                            if j != 0 {
                                return Err(EvoError::Protocol(format!(
                                    "reported candidate {j} of a batch of 1"
                                )));
                            }
                            self.record(i, ev)
                        })
                    });
                    match result {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Err(e),
                        Err(message) if !self.done[i] => self.record(
                            i,
                            Evaluation::failed(format!("evaluator panicked: {message}"), 0.0),
                        )?,
                        Err(_) => {}
                    }
                }
            }
        }
        if let Some(i) = self.done.iter().position(|d| !d) {
            return Err(EvoError::Protocol(format!(
                "the evaluator returned without reporting candidate {i} (`{}`)",
                jobs[i].candidate.expr
            )));
        }
        Ok(())
    }
}

/// Runs a call into the evaluator, turning a panic into its message: the search's one
/// guard against an evaluator that lets a panic escape (evaluators catch their own with
/// [`crate::evaluator::guarded`]).
fn caught<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(payload.as_ref()))
}
