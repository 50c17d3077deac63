//! What a search reports: its progress as it runs, and its outcome.

use crate::record::{Record, RecordId};
use crate::summary::{Summary, TopEntry};

/// Progress of a running search, for a progress bar or a log.
#[derive(Debug)]
pub enum Event<'a> {
    /// A generation was planned and is about to be evaluated.
    Generation {
        /// The generation.
        generation: usize,
        /// The number of generations of the search.
        generations: usize,
        /// Candidates planned (replaced draws included).
        planned: usize,
        /// Candidates the evaluator will train now (planned trainings without a record).
        to_train: usize,
    },
    /// A record was written.
    Recorded(&'a Record),
}

/// The result of a search.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    /// Every record, ordered by generation and index.
    pub records: Vec<Record>,
    /// For each generation, the records holding its population's places, in place order.
    pub populations: Vec<Vec<RecordId>>,
    /// Counts, per-generation bests and the top k by validation accuracy over all
    /// generations.
    pub summary: Summary,
}

impl SearchOutcome {
    /// The best functions by validation accuracy.
    pub fn top(&self) -> &[TopEntry] {
        &self.summary.top
    }
}
