//! The `fit` task: a cheap evaluator that scores a candidate by how closely it matches a
//! target function on a grid, for testing the search and for cheap search experiments.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actfn_expr::{stable_hash, Expr};
use serde::{Deserialize, Serialize};

use crate::evaluator::{guarded_with_timeout, Evaluation, Evaluator, Job, Status};
use crate::EvoError;

/// Configuration of the `fit` task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitConfig {
    /// The function to fit.
    pub target: Expr,
    /// Number of evenly spaced grid points in `[lo, hi]`, ends included.
    pub grid_points: usize,
    /// Left end of the grid.
    pub lo: f64,
    /// Right end of the grid.
    pub hi: f64,
    /// A grid point counts as "correct" for the accuracy when `|f(x) - target(x)|` is at
    /// most this.
    pub tolerance: f64,
    /// Artificial time each evaluation takes, in milliseconds, to simulate training (tests
    /// of killing and resuming use it). Does not change results, so not hashed.
    #[serde(default)]
    pub delay_ms: u64,
    /// Per-candidate time limit in milliseconds; past it the candidate is a recorded
    /// failure. Not hashed.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl FitConfig {
    /// The defaults: 1000 points in `[-5, 5]`, tolerance 0.05, no delay, no time limit.
    pub fn new(target: Expr) -> FitConfig {
        FitConfig {
            target,
            grid_points: 1000,
            lo: -5.0,
            hi: 5.0,
            tolerance: 0.05,
            delay_ms: 0,
            timeout_ms: None,
        }
    }
}

/// The most grid points: the grid and the target's values take 16 bytes a point, and
/// every candidate is evaluated at every point.
pub const MAX_GRID_POINTS: usize = 10_000_000;

/// The grid and target values, shared with evaluation threads.
#[derive(Debug)]
struct Grid {
    xs: Vec<f64>,
    ys: Vec<f64>,
    tolerance: f64,
}

/// Scores a candidate `f` against the target `t` on the grid: validation loss is the mean
/// squared error `mean (f(x) - t(x))^2`, validation accuracy the fraction of grid points
/// with `|f(x) - t(x)| <= tolerance`. A candidate with a non-finite value on the grid, or
/// an infinite error, has diverged. One "epoch".
#[derive(Debug, Clone)]
pub struct FitEvaluator {
    config: FitConfig,
    grid: Arc<Grid>,
}

impl FitEvaluator {
    /// Builds the grid; refuses fewer than two points, an empty interval, or a target that
    /// is not finite on the grid.
    pub fn new(config: FitConfig) -> Result<FitEvaluator, EvoError> {
        // Before anything prints or evaluates the target: both recurse through it.
        config.target.check_printable()?;
        let invalid = |message: String| EvoError::InvalidTarget {
            target: config.target.to_string(),
            message,
        };
        if config.grid_points > MAX_GRID_POINTS {
            return Err(invalid(format!(
                "grid_points must be at most {MAX_GRID_POINTS} (every candidate is evaluated at each), got {}",
                config.grid_points
            )));
        }
        if config.grid_points < 2 {
            return Err(invalid(format!(
                "grid_points must be at least 2, got {}",
                config.grid_points
            )));
        }
        if !(config.lo < config.hi && config.lo.is_finite() && config.hi.is_finite()) {
            return Err(invalid(format!(
                "the grid [{}, {}] is not a finite interval",
                config.lo, config.hi
            )));
        }
        if config.tolerance.is_nan() || config.tolerance < 0.0 {
            return Err(invalid(format!(
                "tolerance must be non-negative, got {}",
                config.tolerance
            )));
        }
        let n = config.grid_points;
        let step = (config.hi - config.lo) / (n - 1) as f64;
        let xs: Vec<f64> = (0..n)
            .map(|i| {
                if i == n - 1 {
                    config.hi
                } else {
                    config.lo + step * i as f64
                }
            })
            .collect();
        let ys: Vec<f64> = xs.iter().map(|&x| config.target.eval(x)).collect();
        if let Some(i) = ys.iter().position(|y| !y.is_finite()) {
            return Err(invalid(format!("it is {} at x = {}", ys[i], xs[i])));
        }
        let grid = Arc::new(Grid {
            xs,
            ys,
            tolerance: config.tolerance,
        });
        Ok(FitEvaluator { config, grid })
    }

    /// The configuration.
    pub fn config(&self) -> &FitConfig {
        &self.config
    }

    /// Scores `expr` without the artificial delay or any guard.
    pub fn score(&self, expr: &Expr) -> Evaluation {
        score(&self.grid, expr, Instant::now())
    }
}

fn score(grid: &Grid, expr: &Expr, start: Instant) -> Evaluation {
    let mut sum = 0.0;
    let mut hits = 0usize;
    for (&x, &y) in grid.xs.iter().zip(&grid.ys) {
        let v = expr.eval(x);
        if !v.is_finite() {
            return Evaluation {
                val_acc: f64::NAN,
                val_loss: f64::NAN,
                status: Status::Diverged {
                    reason: format!("f({x}) = {v}"),
                },
                epochs: 1,
                seconds: start.elapsed().as_secs_f64(),
                worker: None,
            };
        }
        let d = v - y;
        sum += d * d;
        if d.abs() <= grid.tolerance {
            hits += 1;
        }
    }
    let n = grid.xs.len() as f64;
    Evaluation {
        val_acc: hits as f64 / n,
        val_loss: sum / n,
        status: Status::Ok,
        epochs: 1,
        seconds: start.elapsed().as_secs_f64(),
        worker: None,
    }
    .sanitized()
}

impl Evaluator for FitEvaluator {
    fn config_hash(&self) -> String {
        let c = &self.config;
        let key = format!(
            "fit/v1 target={} grid_points={} lo={:?} hi={:?} tolerance={:?}",
            c.target, c.grid_points, c.lo, c.hi, c.tolerance
        );
        format!("{:016x}", stable_hash(key.as_bytes()))
    }

    fn evaluate(
        &mut self,
        jobs: &[Job],
        sink: &mut dyn FnMut(usize, Evaluation) -> Result<(), EvoError>,
    ) -> Result<(), EvoError> {
        Job::refuse_partial(jobs)?;
        let timeout = self.config.timeout_ms.map(Duration::from_millis);
        let delay = Duration::from_millis(self.config.delay_ms);
        for (i, job) in jobs.iter().enumerate() {
            let grid = Arc::clone(&self.grid);
            let expr = job.candidate.expr.clone();
            let evaluation = guarded_with_timeout(timeout, move || {
                let start = Instant::now();
                if !delay.is_zero() {
                    std::thread::sleep(delay);
                }
                score(&grid, &expr, start)
            });
            sink(i, evaluation)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluator::Candidate;
    use crate::RecordId;

    fn expr(s: &str) -> Expr {
        s.parse().unwrap()
    }

    #[test]
    fn scores_mse_and_accuracy() {
        let ev = FitEvaluator::new(FitConfig::new(expr("mul(sigmoid(x), erf(x))"))).unwrap();
        let e = ev.score(&expr("mul(erf(x), sigmoid(x))"));
        assert_eq!(e.status, Status::Ok);
        assert_eq!(e.val_loss, 0.0);
        assert_eq!(e.val_acc, 1.0);
        // x vs x + 0.1 everywhere: MSE 0.01, no point within 0.05.
        let ev = FitEvaluator::new(FitConfig::new(expr("x"))).unwrap();
        let e = ev.score(&expr("add(x, 0.1)"));
        assert!((e.val_loss - 0.01).abs() < 1e-12);
        assert_eq!(e.val_acc, 0.0);
        // Half the grid (x >= 0) matches relu exactly against x.
        let ev = FitEvaluator::new(FitConfig {
            grid_points: 11,
            ..FitConfig::new(expr("x"))
        })
        .unwrap();
        let e = ev.score(&expr("relu(x)"));
        assert!((e.val_acc - 6.0 / 11.0).abs() < 1e-12);
    }

    #[test]
    fn non_finite_values_diverge() {
        let ev = FitEvaluator::new(FitConfig::new(expr("x"))).unwrap();
        let e = ev.score(&expr("sqrt(x)"));
        assert!(matches!(e.status, Status::Diverged { .. }), "{e:?}");
        let e = ev.score(&expr("exp(exp(exp(x)))"));
        assert!(matches!(e.status, Status::Diverged { .. }), "{e:?}");
    }

    #[test]
    fn refuses_bad_targets() {
        assert!(matches!(
            FitEvaluator::new(FitConfig::new(expr("sqrt(x)"))),
            Err(EvoError::InvalidTarget { .. })
        ));
        assert!(FitEvaluator::new(FitConfig {
            grid_points: 1,
            ..FitConfig::new(expr("x"))
        })
        .is_err());
        let err = FitEvaluator::new(FitConfig {
            grid_points: 10_000_001,
            ..FitConfig::new(expr("x"))
        })
        .unwrap_err();
        assert!(
            err.to_string().ends_with("grid_points must be at most 10000000 (every candidate is evaluated at each), got 10000001"),
            "{err}"
        );
        // A target built by hand past the size limits is refused before it is printed.
        let mut tall = Expr::X;
        for _ in 0..=actfn_expr::MAX_HEIGHT {
            tall = Expr::unary(actfn_expr::UnaryOp::Sin, tall);
        }
        let err = FitEvaluator::new(FitConfig::new(tall)).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("is 61 levels tall, more than the limit of 60"),
            "{err}"
        );
    }

    #[test]
    fn hash_ignores_delay_but_not_grid() {
        let base = FitConfig::new(expr("x"));
        let h = |c: FitConfig| FitEvaluator::new(c).unwrap().config_hash();
        assert_eq!(
            h(base.clone()),
            h(FitConfig {
                delay_ms: 5,
                timeout_ms: Some(9),
                ..base.clone()
            })
        );
        assert_ne!(
            h(base.clone()),
            h(FitConfig {
                grid_points: 999,
                ..base.clone()
            })
        );
        assert_ne!(h(base.clone()), h(FitConfig::new(expr("neg(x)"))));
    }

    #[test]
    fn evaluates_a_batch_with_timeouts() {
        let mut ev = FitEvaluator::new(FitConfig {
            delay_ms: 300,
            timeout_ms: Some(30),
            ..FitConfig::new(expr("x"))
        })
        .unwrap();
        let mut jobs = vec![Job {
            id: RecordId {
                generation: 0,
                index: 0,
            },
            candidate: Candidate {
                expr: expr("x"),
                seed: 0,
            },
            until_epoch: None,
        }];
        let mut got = Vec::new();
        ev.evaluate(&jobs, &mut |i, e| {
            got.push((i, e));
            Ok(())
        })
        .unwrap();
        assert_eq!(got.len(), 1);
        assert!(
            matches!(got[0].1.status, Status::Failed { ref reason } if reason.contains("timed out"))
        );
        // No epochs to stop after: a rung of halving is refused, before anything runs.
        jobs[0].until_epoch = Some(2);
        let err = ev
            .evaluate(&jobs, &mut |_, _| panic!("nothing is evaluated"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            EvoError::InvalidConfig(
                "this task cannot stop a training at epoch 2 and continue it later, so it \
                 cannot be searched with halving"
                    .into()
            )
            .to_string()
        );
    }
}
