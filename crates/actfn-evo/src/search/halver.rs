//! Successive halving inside a generation, as the search drives it: the rungs are
//! evaluated one after another, their results kept in the rung state, and who goes on is
//! [`promoted`]'s choice.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::config::{FitnessMetric, HalvingConfig};
use crate::evaluator::{Evaluation, Evaluator};
use crate::halving::promoted;
use crate::record::{Journal, Record, RecordId};
use crate::rung_state::RungState;
use crate::EvoError;

use super::event::Event;
use super::plan::{Entry, Kind};
use super::recorder::{evaluated_record, Recorder};

/// Runs one generation's trainings with successive halving: each rung below the last is
/// evaluated into the rung state (what is already there is not evaluated again), its
/// candidates that do not go on are recorded, in plan order, and the last rung's are
/// recorded as they are reported, as without halving.
pub(super) struct Halver<'a> {
    pub(super) generation: usize,
    pub(super) plan: &'a [Entry],
    pub(super) seed: u64,
    pub(super) hash: &'a str,
    pub(super) journal: &'a mut Journal,
    pub(super) records: &'a mut HashMap<RecordId, Record>,
    pub(super) observer: &'a mut dyn FnMut(Event<'_>),
    pub(super) halving: HalvingConfig,
    pub(super) metric: FitnessMetric,
    pub(super) rungs: &'a [u32],
    pub(super) state_path: Option<PathBuf>,
}

impl Halver<'_> {
    pub(super) fn run(&mut self, evaluator: &mut dyn Evaluator) -> Result<(), EvoError> {
        let g = self.generation;
        let (below, last) = self.rungs.split_at(self.rungs.len() - 1);
        let mut state = RungState::open(self.state_path.clone(), below)?;
        let mut current: Vec<usize> = (0..self.plan.len())
            .filter(|&i| matches!(self.plan[i].kind, Kind::Train))
            .collect();
        let mut seconds: HashMap<usize, f64> = HashMap::new();
        let recorded = |records: &HashMap<RecordId, Record>, index: usize| {
            records.contains_key(&RecordId {
                generation: g,
                index,
            })
        };
        for (k, &epochs) in below.iter().enumerate() {
            let mut missing = Vec::new();
            for &i in &current {
                if state.get(k, i, &self.plan[i].text)?.is_none() {
                    missing.push(i);
                }
            }
            if !missing.is_empty() {
                let mut recorder = self.recorder(&missing, epochs, k, Some(&mut state), &seconds);
                recorder.evaluate(evaluator)?;
            }
            let mut results = Vec::with_capacity(current.len());
            for &i in &current {
                let e = state.get(k, i, &self.plan[i].text)?.ok_or_else(|| {
                    EvoError::Protocol(format!("no result for index {i} at rung {k}"))
                })?;
                *seconds.entry(i).or_default() += if e.seconds.is_finite() {
                    e.seconds
                } else {
                    0.0
                };
                results.push((i, e));
            }
            let refs: Vec<(usize, &Evaluation)> = results.iter().map(|(i, e)| (*i, e)).collect();
            let next = promoted(&refs, self.halving.eta, self.metric);
            for (i, e) in results {
                if next.contains(&i) || recorded(self.records, i) {
                    continue;
                }
                let record = evaluated_record(
                    g,
                    i,
                    &self.plan[i],
                    self.seed,
                    self.hash,
                    e.sanitized(),
                    Some(k),
                    0.0,
                );
                let record = Record {
                    seconds: seconds.get(&i).copied().unwrap_or(0.0),
                    ..record
                };
                let written = self.journal.append(&record)?;
                (self.observer)(Event::Recorded(written));
                self.records.insert(written.id(), written.clone());
            }
            current = next;
        }
        let pending: Vec<usize> = current
            .into_iter()
            .filter(|&i| !recorded(self.records, i))
            .collect();
        if !pending.is_empty() {
            let mut recorder =
                self.recorder(&pending, last[0], self.rungs.len() - 1, None, &seconds);
            recorder.evaluate(evaluator)?;
        }
        Ok(())
    }

    fn recorder<'r>(
        &'r mut self,
        pending: &'r [usize],
        epochs: u32,
        rung: usize,
        rung_state: Option<&'r mut RungState>,
        seconds: &HashMap<usize, f64>,
    ) -> Recorder<'r> {
        Recorder {
            generation: self.generation,
            plan: self.plan,
            pending,
            done: vec![false; pending.len()],
            seed: self.seed,
            hash: self.hash,
            journal: &mut *self.journal,
            records: &mut *self.records,
            observer: &mut *self.observer,
            epochs: Some(epochs),
            rung: Some(rung),
            rung_state,
            earlier_seconds: pending
                .iter()
                .map(|i| seconds.get(i).copied().unwrap_or(0.0))
                .collect(),
        }
    }
}
