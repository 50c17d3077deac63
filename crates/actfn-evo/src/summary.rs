//! What a search found, computed from its records alone: the top k, the best metrics per
//! generation and the counts of trained, duplicate, rejected and failed candidates.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::record::{Origin, Record, RecordStatus};

/// One of the best functions of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopEntry {
    /// The function, canonical text.
    pub expr: String,
    /// Its validation accuracy.
    pub val_acc: f64,
    /// Its validation loss.
    pub val_loss: f64,
    /// The generation it was trained in.
    pub generation: usize,
    /// Its index in that generation.
    pub index: usize,
    /// Epochs it trained (with halving, the rung it reached); 0 in summaries written
    /// before this field existed.
    #[serde(default)]
    pub epochs: u32,
}

/// Metrics of one generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationStats {
    /// The generation.
    pub generation: usize,
    /// Candidates holding a place in the generation's population.
    pub population: usize,
    /// Evaluations performed in this generation.
    pub trained: usize,
    /// Best validation accuracy in the population (absent if none succeeded).
    pub best_val_acc: Option<f64>,
    /// Best (lowest) validation loss in the population.
    pub best_val_loss: Option<f64>,
    /// The member with the best validation accuracy (canonical text), as drawn in the
    /// paper's Figure 4.
    pub best_expr: Option<String>,
    /// Evaluations performed up to and including this generation.
    pub trained_so_far: usize,
    /// Best validation accuracy of any evaluation so far.
    pub best_so_far_val_acc: Option<f64>,
    /// Best validation loss of any evaluation so far.
    pub best_so_far_val_loss: Option<f64>,
}

/// The summary of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Records: every candidate evaluated, reused or rejected.
    pub evaluations: usize,
    /// Evaluations the evaluator performed (whatever their outcome).
    pub trained: usize,
    /// Of those, the ones with usable metrics.
    pub ok: usize,
    /// Of those, the ones that diverged.
    pub diverged: usize,
    /// Of those, the ones that failed (panic, time-out, error).
    pub failed: usize,
    /// Candidates functionally equal to one already evaluated: its record reused.
    pub duplicates: usize,
    /// Degenerate candidates, never trained.
    pub rejected: usize,
    /// Elites carried over to a next generation without training.
    pub elites: usize,
    /// Trainings that the no-waste policy saved: duplicates plus rejected.
    pub trainings_saved: usize,
    /// Seconds spent in evaluations.
    pub seconds: f64,
    /// Epochs trained over all evaluations (what halving saves); 0 in summaries written
    /// before this field existed.
    #[serde(default)]
    pub epochs_trained: u64,
    /// The best functions by validation accuracy (ties: lower loss, then earlier).
    pub top: Vec<TopEntry>,
    /// Per-generation metrics.
    pub generations: Vec<GenerationStats>,
}

/// Summarizes `records`, keeping the `top_k` best functions.
///
/// With halving, "best" prefers candidates that went further: the top k is ordered by
/// the rung reached first, and a generation's (and the search's) best metrics are those
/// of the candidates that reached the highest rung. Without halving every record ranks
/// alike and this changes nothing.
pub fn summarize(records: &[Record], top_k: usize) -> Summary {
    let trained: Vec<&Record> = records.iter().filter(|r| r.trained()).collect();
    let count = |f: &dyn Fn(&Record) -> bool| records.iter().filter(|r| f(r)).count();
    let duplicates = count(&|r| r.duplicate_of.is_some() && r.origin != Origin::Elite);
    let rejected = count(&|r| r.status == RecordStatus::Rejected && r.duplicate_of.is_none());

    let mut best: Vec<&Record> = trained.iter().copied().filter(|r| r.is_ok()).collect();
    best.sort_by(|a, b| {
        let (aa, ab) = (a.val_acc.unwrap_or(f64::NAN), b.val_acc.unwrap_or(f64::NAN));
        let (la, lb) = (
            a.val_loss.unwrap_or(f64::NAN),
            b.val_loss.unwrap_or(f64::NAN),
        );
        b.progress()
            .cmp(&a.progress())
            .then(ab.total_cmp(&aa))
            .then(la.total_cmp(&lb))
            .then(a.id().cmp(&b.id()))
    });
    let mut seen = HashSet::new();
    let top = best
        .into_iter()
        .filter(|r| seen.insert(r.fingerprint.clone()))
        .take(top_k)
        .map(|r| TopEntry {
            expr: r.expr.clone(),
            val_acc: r.val_acc.unwrap_or(f64::NAN),
            val_loss: r.val_loss.unwrap_or(f64::NAN),
            generation: r.generation,
            index: r.index,
            epochs: r.epochs,
        })
        .collect();
    // The furthest any usable evaluation got: the best-so-far metrics are of those.
    let furthest = trained
        .iter()
        .filter(|r| r.is_ok())
        .map(|r| r.progress())
        .max();

    let mut by_generation: BTreeMap<usize, Vec<&Record>> = BTreeMap::new();
    for r in records {
        by_generation.entry(r.generation).or_default().push(r);
    }
    let (mut so_far, mut so_far_acc, mut so_far_loss) = (0, None, None);
    let min = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(x), Some(y)) => Some(f64::min(x, y)),
        (x, y) => x.or(y),
    };
    let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(x), Some(y)) => Some(f64::max(x, y)),
        (x, y) => x.or(y),
    };
    let generations = by_generation
        .into_iter()
        .map(|(generation, rs)| {
            let usable = || rs.iter().filter(|r| r.slot.is_some() && r.is_ok());
            let top_progress = usable().map(|r| r.progress()).max();
            let members: Vec<&&Record> = usable()
                .filter(|r| Some(r.progress()) == top_progress)
                .collect();
            let new: Vec<&&Record> = rs.iter().filter(|r| r.trained()).collect();
            so_far += new.len();
            for r in new
                .iter()
                .filter(|r| r.is_ok() && Some(r.progress()) == furthest)
            {
                so_far_acc = max(so_far_acc, r.val_acc);
                so_far_loss = min(so_far_loss, r.val_loss);
            }
            GenerationStats {
                generation,
                population: rs.iter().filter(|r| r.slot.is_some()).count(),
                trained: new.len(),
                best_val_acc: members.iter().fold(None, |m, r| max(m, r.val_acc)),
                best_val_loss: members.iter().fold(None, |m, r| min(m, r.val_loss)),
                best_expr: members
                    .iter()
                    .filter(|r| r.val_acc.is_some())
                    .max_by(|a, b| {
                        let (x, y) = (a.val_acc.unwrap_or(0.0), b.val_acc.unwrap_or(0.0));
                        x.total_cmp(&y).then(b.id().cmp(&a.id()))
                    })
                    .map(|r| r.expr.clone()),
                trained_so_far: so_far,
                best_so_far_val_acc: so_far_acc,
                best_so_far_val_loss: so_far_loss,
            }
        })
        .collect();

    Summary {
        evaluations: records.len(),
        trained: trained.len(),
        ok: trained
            .iter()
            .filter(|r| r.status == RecordStatus::Ok)
            .count(),
        diverged: trained
            .iter()
            .filter(|r| r.status == RecordStatus::Diverged)
            .count(),
        failed: trained
            .iter()
            .filter(|r| r.status == RecordStatus::Failed)
            .count(),
        duplicates,
        rejected,
        elites: count(&|r| r.origin == Origin::Elite),
        trainings_saved: duplicates + rejected,
        seconds: trained.iter().map(|r| r.seconds).sum(),
        epochs_trained: trained.iter().map(|r| u64::from(r.epochs)).sum(),
        top,
        generations,
    }
}
