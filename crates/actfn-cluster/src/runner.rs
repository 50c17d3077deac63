//! The one interface the executors share, so a caller can hold either.

use crate::{LocalPool, Outcome, Result, SlurmArray, Task};

/// Runs tasks to their outcomes, telling the caller as each settles.
pub trait Runner {
    /// Runs every task not yet published; calls `on_settled(index, outcome)` on the
    /// calling thread as each task settles; returns the outcomes in task order.
    fn run_tasks(
        &self,
        tasks: &[Task],
        on_settled: &mut dyn FnMut(usize, &Outcome),
    ) -> Result<Vec<Outcome>>;
}

impl Runner for LocalPool {
    fn run_tasks(
        &self,
        tasks: &[Task],
        on_settled: &mut dyn FnMut(usize, &Outcome),
    ) -> Result<Vec<Outcome>> {
        Ok(self.run_observed(tasks, on_settled)?.outcomes)
    }
}

impl Runner for SlurmArray {
    fn run_tasks(
        &self,
        tasks: &[Task],
        on_settled: &mut dyn FnMut(usize, &Outcome),
    ) -> Result<Vec<Outcome>> {
        Ok(self.run_observed(tasks, on_settled)?.outcomes)
    }
}
