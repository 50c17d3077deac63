//! Successive halving inside a generation: every candidate trains the first rung's
//! epochs, the best `ceil(n / eta)` by the search's ranking metric continue from their
//! epoch checkpoint to the next rung, and so on up to the full budget.
//!
//! A rung is a number of epochs of the *full* training schedule (the learning-rate
//! milestones stay the full run's), so a candidate that reaches the last rung has trained
//! exactly what it would have without halving. This module holds the pure parts of the
//! rungs: who is promoted, and by which metric. The settings and the rungs they make are
//! [`HalvingConfig`], part of the search configuration (`config.rs`). The search drives
//! the rungs (`search/halver.rs`) and keeps the results of the rungs below the last in
//! [`crate::rung_state`].

pub use crate::config::HalvingConfig;
use crate::config::{FitnessMetric, Strategy};
use crate::evaluator::{Evaluation, Status};

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
