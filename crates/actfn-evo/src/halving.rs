//! Successive halving inside a generation: every candidate trains the first rung's
//! epochs, the best `ceil(n / eta)` by the search's ranking metric continue from their
//! epoch checkpoint to the next rung, and so on up to the full budget.
//!
//! A rung is a number of epochs of the *full* training schedule (the learning-rate
//! milestones stay the full run's), so a candidate that reaches the last rung has trained
//! exactly what it would have without halving. This module holds the pure parts: the
//! settings, the rungs and who is promoted. The search drives the rungs (`search.rs`) and
//! keeps the results of the rungs below the last in [`crate::rung_state`].

use serde::{Deserialize, Serialize};

use crate::config::{FitnessMetric, Strategy};
use crate::evaluator::{Evaluation, Status};
use crate::EvoError;

/// The successive-halving settings of a search (absent from `config.ron` when off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HalvingConfig {
    /// At each rung, the best `ceil(n / eta)` of the `n` candidates go on; at least 2.
    pub eta: u32,
    /// Epochs of the first rung; the next rungs are `min_epochs * eta^k`, capped at the
    /// full budget, which is always the last rung.
    pub min_epochs: u32,
}

impl HalvingConfig {
    /// Checks the settings that do not depend on the training budget.
    pub fn validate(&self, strategy: &Strategy) -> Result<(), EvoError> {
        let bad = |m: String| Err(EvoError::InvalidConfig(m));
        if self.eta < 2 {
            return bad(format!(
                "halving needs eta of at least 2 (the best 1/eta go on at each rung), got {}",
                self.eta
            ));
        }
        if self.min_epochs == 0 {
            return bad("halving's first rung must train at least 1 epoch, got 0".into());
        }
        if matches!(strategy, Strategy::Exhaustive { .. }) {
            return bad(
                "halving needs a population to select from; the exhaustive search trains \
                 every function of the space to the end, in batches that are not populations"
                    .into(),
            );
        }
        Ok(())
    }

    /// The rungs for a full budget of `budget` epochs: `min_epochs * eta^k` below the
    /// budget, then the budget. Refuses a first rung above the budget.
    pub fn rungs(&self, budget: u32) -> Result<Vec<u32>, EvoError> {
        if self.min_epochs > budget {
            return Err(EvoError::InvalidConfig(format!(
                "halving's first rung ({} epochs) is above the full budget of {budget} epochs",
                self.min_epochs
            )));
        }
        let mut rungs = Vec::new();
        let mut epochs = u64::from(self.min_epochs);
        while epochs < u64::from(budget) {
            rungs.push(epochs as u32);
            epochs *= u64::from(self.eta);
        }
        rungs.push(budget);
        Ok(rungs)
    }
}

/// The metric candidates are ranked by at a rung: the evolution's fitness metric; for the
/// random search, validation accuracy (ties: lower loss), the metric its top k is by.
pub fn ranking_metric(strategy: &Strategy) -> FitnessMetric {
    match strategy {
        Strategy::Evolution(e) => e.fitness,
        _ => FitnessMetric::Accuracy,
    }
}

/// Who of `results` (plan index and evaluation at this rung) goes on to the next rung:
/// the best `ceil(n / eta)` of all `n` by `metric` (ties: lower loss for accuracy, then
/// the earlier index), among the `Ok` ones only, so a diverged or failed candidate never
/// goes on. Returned in plan order.
pub fn promoted(results: &[(usize, &Evaluation)], eta: u32, metric: FitnessMetric) -> Vec<usize> {
    let keep = results.len().div_ceil(eta.max(1) as usize);
    let mut ok: Vec<&(usize, &Evaluation)> = results
        .iter()
        .filter(|(_, e)| e.status == Status::Ok && e.val_acc.is_finite() && e.val_loss.is_finite())
        .collect();
    ok.sort_by(|(ia, a), (ib, b)| {
        let by_metric = match metric {
            FitnessMetric::Loss => a.val_loss.total_cmp(&b.val_loss),
            FitnessMetric::Accuracy => b
                .val_acc
                .total_cmp(&a.val_acc)
                .then(a.val_loss.total_cmp(&b.val_loss)),
        };
        by_metric.then(ia.cmp(ib))
    });
    let mut chosen: Vec<usize> = ok.into_iter().take(keep).map(|(i, _)| *i).collect();
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EvolutionConfig;

    fn halving(eta: u32, min_epochs: u32) -> HalvingConfig {
        HalvingConfig { eta, min_epochs }
    }

    #[test]
    fn rungs_grow_by_eta_and_end_at_the_budget() {
        assert_eq!(halving(3, 1).rungs(4).unwrap(), vec![1, 3, 4]);
        assert_eq!(halving(2, 1).rungs(8).unwrap(), vec![1, 2, 4, 8]);
        assert_eq!(halving(3, 2).rungs(50).unwrap(), vec![2, 6, 18, 50]);
        assert_eq!(halving(2, 4).rungs(4).unwrap(), vec![4]);
        // No overflow however large eta is.
        assert_eq!(
            halving(u32::MAX, 1).rungs(u32::MAX).unwrap(),
            vec![1, u32::MAX]
        );
        let err = halving(2, 5).rungs(4).unwrap_err().to_string();
        assert!(
            err.contains("first rung (5 epochs) is above the full budget of 4"),
            "{err}"
        );
    }

    #[test]
    fn refuses_bad_settings() {
        let evolution = Strategy::Evolution(EvolutionConfig {
            population: 4,
            elites: 1,
            random: 1,
            generations: 2,
            fitness: FitnessMetric::Loss,
        });
        halving(2, 1).validate(&evolution).unwrap();
        let err = halving(1, 1).validate(&evolution).unwrap_err().to_string();
        assert!(err.contains("eta of at least 2"), "{err}");
        let err = halving(3, 0).validate(&evolution).unwrap_err().to_string();
        assert!(err.contains("at least 1 epoch"), "{err}");
        let err = halving(3, 1)
            .validate(&Strategy::Exhaustive { batch: 5 })
            .unwrap_err()
            .to_string();
        assert!(err.contains("exhaustive"), "{err}");
    }

    fn ev(acc: f64, loss: f64) -> Evaluation {
        Evaluation {
            val_acc: acc,
            val_loss: loss,
            status: Status::Ok,
            epochs: 1,
            seconds: 0.0,
            worker: None,
        }
    }

    #[test]
    fn promotes_the_best_ok_ones_by_the_metric() {
        let diverged = Evaluation {
            status: Status::Diverged {
                reason: "nan".into(),
            },
            ..ev(0.9, 0.1)
        };
        let e = [
            ev(0.5, 1.0),
            ev(0.6, 2.0),
            diverged,
            ev(0.4, 0.5),
            ev(0.6, 1.5),
        ];
        let results: Vec<(usize, &Evaluation)> = e.iter().enumerate().collect();
        // ceil(5 / 2) = 3 by loss: 3 (0.5), 0 (1.0), 4 (1.5); the diverged one never.
        assert_eq!(promoted(&results, 2, FitnessMetric::Loss), vec![0, 3, 4]);
        // By accuracy, ties by loss: 4 (0.6, 1.5), 1 (0.6, 2.0).
        assert_eq!(promoted(&results, 3, FitnessMetric::Accuracy), vec![1, 4]);
        // Fewer ok candidates than places: only the ok ones.
        let only_bad = [(0, &e[2])];
        assert!(promoted(&only_bad, 2, FitnessMetric::Loss).is_empty());
    }
}
