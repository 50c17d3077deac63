//! The search driver: plans each generation from the records of the previous ones,
//! hands the candidates that need training to the evaluator, records every outcome
//! durably, and resumes a killed search exactly.
//!
//! Generation `g` is *planned* by a pure function of the configuration and the records of
//! generations `< g`: its randomness is the ChaCha8 stream `g` of the search seed, and
//! which draws are duplicates or degenerate depends only on the candidates. Running a
//! search and resuming one are therefore the same loop: plan `g`, check the records that
//! already exist for it against the plan, evaluate what has no record, record the rest.
//!
//! This file is the driver ([`run_search`]); the rest of the search is one concept per
//! file: `storage` (the search directory, `config.ron` and the records file), `plan`
//! (planning a generation), `recorder` (handing jobs to the evaluator and recording what
//! it reports), `halver` (the rungs of successive halving) and `event` (progress and
//! outcome).

mod event;
mod halver;
mod plan;
mod recorder;
mod storage;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::SearchConfig;
use crate::evaluator::Evaluator;
use crate::halving::ranking_metric;
use crate::record::{Journal, Record, RecordId, RecordStatus};
use crate::rung_state::rungs_path;
use crate::summary::summarize;
use crate::EvoError;

pub use event::{Event, SearchOutcome};
use halver::Halver;
use plan::{plan_generation, Kind, State};
use recorder::{base_record, Recorder};
pub use storage::{create_dir, open_dir, read_dir, CONFIG_FILE, RECORDS_FILE};

/// Runs (or continues) a search: for every generation, plans it, checks the records
/// `journal` already holds for it, evaluates the candidates without a record and records
/// every outcome. Returns the whole history and the top k.
///
/// Resuming is calling this again with the journal of the killed search: nothing that has
/// a record is evaluated again, and for a deterministic evaluator the outcome is the one
/// of an uninterrupted run. Records of another evaluator configuration or another plan
/// are refused.
pub fn run_search(
    config: &SearchConfig,
    journal: &mut Journal,
    evaluator: &mut dyn Evaluator,
    observer: &mut dyn FnMut(Event<'_>),
) -> Result<SearchOutcome, EvoError> {
    config.validate()?;
    let hash = evaluator.config_hash();
    // The rungs, when halving: they need the evaluator's full budget.
    let halving = match &config.halving {
        None => None,
        Some(h) => {
            let Some(budget) = evaluator.halving_budget() else {
                return Err(EvoError::InvalidConfig(
                    "halving needs a task that trains for epochs (cifar10, cifar100); this \
                     task's evaluations have no epochs to stop after"
                        .into(),
                ));
            };
            Some((*h, h.rungs(budget)?))
        }
    };
    let search_dir = journal.path().and_then(Path::parent).map(Path::to_path_buf);
    let path = journal
        .path()
        .map_or_else(|| PathBuf::from(RECORDS_FILE), Path::to_path_buf);
    let foreign = |line: usize, message: String| EvoError::ForeignRecord {
        path: path.clone(),
        line,
        message,
    };

    // The records already there, by address.
    let mut existing: HashMap<RecordId, usize> = HashMap::new();
    for (pos, r) in journal.records().iter().enumerate() {
        if r.config_hash != hash {
            return Err(foreign(
                pos + 1,
                format!(
                    "evaluator configuration hash {} differs from this search's {hash}",
                    r.config_hash
                ),
            ));
        }
        if r.seed != config.eval_seed() {
            return Err(foreign(
                pos + 1,
                format!(
                    "seed {} differs from this search's {}",
                    r.seed,
                    config.eval_seed()
                ),
            ));
        }
        if existing.insert(r.id(), pos).is_some() {
            return Err(foreign(
                pos + 1,
                format!(
                    "a second record for generation {} index {}",
                    r.generation, r.index
                ),
            ));
        }
    }

    let generations = config.generations();
    let mut state = State {
        config,
        known: HashMap::new(),
        exprs: HashMap::new(),
        records: HashMap::new(),
        populations: Vec::new(),
    };
    let mut matched = 0usize;
    for g in 0..generations {
        let (plan, new_known) = plan_generation(&state, g);
        if plan.is_empty() {
            break;
        }
        for (i, e) in plan.iter().enumerate() {
            let id = RecordId {
                generation: g,
                index: i,
            };
            if let Some(&pos) = existing.get(&id) {
                let r = &journal.records()[pos];
                if r.expr != e.text || r.slot != e.slot || r.origin != e.origin {
                    return Err(foreign(
                        pos + 1,
                        format!(
                            "generation {g} index {i} holds {} `{}` (slot {:?}), but this search plans {} `{}` (slot {:?}): the records belong to another search configuration or version",
                            r.origin.name(), r.expr, r.slot, e.origin.name(), e.text, e.slot
                        ),
                    ));
                }
                state.records.insert(id, r.clone());
                matched += 1;
            }
        }
        let pending: Vec<usize> = (0..plan.len())
            .filter(|&i| {
                matches!(plan[i].kind, Kind::Train)
                    && !state.records.contains_key(&RecordId {
                        generation: g,
                        index: i,
                    })
            })
            .collect();
        observer(Event::Generation {
            generation: g,
            generations,
            planned: plan.len(),
            to_train: pending.len(),
        });
        match &halving {
            Some((h, rungs)) if !pending.is_empty() => {
                let mut halver = Halver {
                    generation: g,
                    plan: &plan,
                    seed: config.eval_seed(),
                    hash: &hash,
                    journal: &mut *journal,
                    records: &mut state.records,
                    observer: &mut *observer,
                    halving: *h,
                    metric: ranking_metric(&config.strategy),
                    rungs,
                    state_path: search_dir.as_deref().map(|d| rungs_path(d, g)),
                };
                halver.run(evaluator)?;
            }
            _ => {
                let mut recorder = Recorder {
                    generation: g,
                    plan: &plan,
                    pending: &pending,
                    done: vec![false; pending.len()],
                    seed: config.eval_seed(),
                    hash: &hash,
                    journal: &mut *journal,
                    records: &mut state.records,
                    observer: &mut *observer,
                    epochs: None,
                    rung: None,
                    rung_state: None,
                    earlier_seconds: Vec::new(),
                };
                recorder.evaluate(evaluator)?;
            }
        }
        // Records of the candidates not trained, now that every original is recorded.
        for (i, e) in plan.iter().enumerate() {
            let id = RecordId {
                generation: g,
                index: i,
            };
            if state.records.contains_key(&id) {
                continue;
            }
            let record = match &e.kind {
                Kind::Train => unreachable!("every training was recorded"),
                Kind::Reuse(of) => {
                    let original = &state.records[of];
                    Record {
                        val_acc: original.val_acc,
                        val_loss: original.val_loss,
                        status: original.status,
                        reason: original.reason.clone(),
                        duplicate_of: Some(*of),
                        rung: original.rung,
                        ..base_record(g, i, e, config.eval_seed(), &hash)
                    }
                }
                Kind::Rejected(why) => Record {
                    status: RecordStatus::Rejected,
                    reason: Some(why.clone()),
                    ..base_record(g, i, e, config.eval_seed(), &hash)
                },
            };
            let written = journal.append(&record)?;
            observer(Event::Recorded(written));
            state.records.insert(id, written.clone());
        }
        // The generation is complete: it becomes history.
        let mut population: Vec<(usize, RecordId)> = Vec::new();
        for (i, e) in plan.into_iter().enumerate() {
            let id = RecordId {
                generation: g,
                index: i,
            };
            if let Some(slot) = e.slot {
                population.push((slot, id));
            }
            state.exprs.insert(id, e.expr);
        }
        population.sort();
        state
            .populations
            .push(population.into_iter().map(|(_, id)| id).collect());
        state.known.extend(new_known);
    }
    if matched < existing.len() {
        let (_, &pos) = existing
            .iter()
            .filter(|(id, _)| !state.records.contains_key(id))
            .min_by_key(|(_, &pos)| pos)
            .expect("an unmatched record exists");
        let r = &journal.records()[pos];
        return Err(foreign(
            pos + 1,
            format!(
                "generation {} index {} is not part of this search's plan",
                r.generation, r.index
            ),
        ));
    }

    let mut records: Vec<Record> = state.records.into_values().collect();
    records.sort_by_key(Record::id);
    let summary = summarize(&records, config.top_k);
    Ok(SearchOutcome {
        records,
        populations: state.populations,
        summary,
    })
}
