//! The seam between the search and training: an [`Evaluator`] scores a whole generation
//! of [`Job`]s and reports each one's [`Evaluation`] as soon as it is done.

use std::convert::Infallible;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use actfn_expr::Expr;
use serde::{Deserialize, Serialize};

use crate::{EvoError, RecordId};

/// A candidate activation function and the seed its training must use (initialisation,
/// data order, dropout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The candidate activation function.
    pub expr: Expr,
    /// The training seed.
    pub seed: u64,
}

/// How an evaluation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Trained to the end with finite validation metrics.
    Ok,
    /// Training produced non-finite values (NaN loss, an asymptote hit).
    Diverged {
        /// What diverged, for the record.
        reason: String,
    },
    /// The evaluation could not be completed (a panic, a time-out, an error inside the
    /// candidate's training).
    Failed {
        /// Why, for the record.
        reason: String,
    },
}

/// The outcome of evaluating one candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Validation accuracy in `[0, 1]`.
    pub val_acc: f64,
    /// Validation loss (lower is better).
    pub val_loss: f64,
    /// How it ended. Only [`Status::Ok`] evaluations take part in fitness and top-k.
    pub status: Status,
    /// Epochs actually run.
    pub epochs: u32,
    /// Wall-clock seconds spent.
    pub seconds: f64,
    /// Where it ran (`inline`, `local 2`, `slurm 1234_7`), for the record; it never
    /// changes the outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
}

impl Evaluation {
    /// A failed evaluation (no metrics).
    pub fn failed(reason: impl Into<String>, seconds: f64) -> Evaluation {
        Evaluation {
            val_acc: f64::NAN,
            val_loss: f64::NAN,
            status: Status::Failed {
                reason: reason.into(),
            },
            epochs: 0,
            seconds,
            worker: None,
        }
    }

    /// The evaluation with an `Ok` status downgraded to `Diverged` when a metric is not
    /// finite, so that a NaN never reaches fitness or top-k.
    pub fn sanitized(mut self) -> Evaluation {
        if self.status == Status::Ok {
            if !self.val_loss.is_finite() {
                self.status = Status::Diverged {
                    reason: format!("non-finite validation loss {}", self.val_loss),
                };
            } else if !self.val_acc.is_finite() {
                self.status = Status::Diverged {
                    reason: format!("non-finite validation accuracy {}", self.val_acc),
                };
            }
        }
        self
    }
}

/// One piece of work for an evaluator: the record it becomes, its candidate, and how far
/// to train it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The record this evaluation becomes. An evaluator that keeps files per candidate
    /// (worker task folders, run folders) names them by it, so that a resumed search
    /// finds them again; one that keeps none ignores it.
    pub id: RecordId,
    /// The candidate and its training seed.
    pub candidate: Candidate,
    /// `None`: the full evaluation. `Some(e)`, a rung of successive halving: train only up
    /// to epoch `e` of the full schedule (the learning-rate milestones stay the full
    /// run's), continuing from where an earlier job on the same record stopped; the
    /// reported evaluation is the one after epoch `e`. With `e` equal to
    /// [`Evaluator::halving_budget`], the outcome is the full evaluation's, bit for bit.
    /// Only an evaluator with a halving budget accepts it (see [`Job::refuse_partial`]).
    pub until_epoch: Option<u32>,
}

impl Job {
    /// What an evaluator without a [halving budget](Evaluator::halving_budget) answers
    /// to `jobs`: `Ok` when every job is a full evaluation, otherwise the
    /// [`EvoError::InvalidConfig`] that such a task cannot be searched with halving
    /// (naming the first job's `until_epoch` that asks to stop early). Such an evaluator
    /// calls it before it evaluates anything.
    pub fn refuse_partial(jobs: &[Job]) -> Result<(), EvoError> {
        match jobs.iter().find_map(|job| job.until_epoch) {
            None => Ok(()),
            Some(epochs) => Err(EvoError::InvalidConfig(format!(
                "this task cannot stop a training at epoch {epochs} and continue it later, so \
                 it cannot be searched with halving"
            ))),
        }
    }
}

/// Evaluates candidates: trains a network with each activation function (or, for tests
/// and cheap experiments, scores it some other way) and reports validation metrics.
///
/// The search hands over a whole generation (or a whole rung of one, when halving) at
/// once, as [`Job`]s, so an implementation may evaluate them in parallel, on several
/// devices or on a cluster, in any order. It must call `sink(i, evaluation)` exactly once
/// for each `jobs[i]`, as soon as that evaluation is finished: the search writes the
/// record durably before `sink` returns, so a killed search loses only the evaluations
/// still in flight. If `sink` returns an error (the record could not be written), the
/// evaluator must stop and return that error.
///
/// A candidate-level failure (diverged training, an error while training this one
/// candidate, a time-out) is reported through `sink` with a non-`Ok` [`Status`]; only a
/// failure that makes every further evaluation pointless (data missing, device lost)
/// is returned as `Err`, which stops the search without recording the unreported
/// candidates. The search also guards against a panicking evaluator (the unreported
/// jobs are retried one at a time and a panicking one is recorded as failed) and
/// against NaN metrics ([`Evaluation::sanitized`]). Time-outs need the evaluator's help:
/// [`guarded`] runs one evaluation with a time limit.
///
/// A job with [`until_epoch`](Job::until_epoch) is a rung of successive halving; an
/// evaluator without a [`halving_budget`](Self::halving_budget) refuses it with
/// [`Job::refuse_partial`]. The search hands such jobs only to an evaluator with a
/// budget, and all jobs of one call stop at the same epoch.
///
/// `sink` is not `Send`: an evaluator that trains on several threads, devices or
/// machines calls it from the thread that called `evaluate`, as results arrive (through a
/// channel, say). The trait is object-safe; the search takes `&mut dyn Evaluator`.
pub trait Evaluator {
    /// A stable hash of everything besides the candidate and its seed that determines an
    /// evaluation's outcome (task, data, training schedule, evaluator version). Stored in
    /// the search configuration and in every record; a resumed search refuses records
    /// with another hash.
    fn config_hash(&self) -> String;

    /// The epochs of a full evaluation, when this evaluator can stop a training after
    /// any epoch of its full schedule and later continue it from there (what successive
    /// halving needs, see [`Job::until_epoch`]); `None`, the default, when it cannot (a
    /// task without epochs).
    fn halving_budget(&self) -> Option<u32> {
        None
    }

    /// Evaluates `jobs`, reporting each result through `sink` as described above.
    fn evaluate(
        &mut self,
        jobs: &[Job],
        sink: &mut dyn FnMut(usize, Evaluation) -> Result<(), EvoError>,
    ) -> Result<(), EvoError>;
}

impl<E: Evaluator + ?Sized> Evaluator for Box<E> {
    fn config_hash(&self) -> String {
        (**self).config_hash()
    }

    fn halving_budget(&self) -> Option<u32> {
        (**self).halving_budget()
    }

    fn evaluate(
        &mut self,
        jobs: &[Job],
        sink: &mut dyn FnMut(usize, Evaluation) -> Result<(), EvoError>,
    ) -> Result<(), EvoError> {
        (**self).evaluate(jobs, sink)
    }
}

/// Runs one evaluation with the guard every evaluator wants: a panic becomes
/// [`Status::Failed`] ("panicked: ..."), non-finite metrics become [`Status::Diverged`].
/// An `Err` of `f` (a failure of the evaluator's setup, which would fail every candidate
/// alike) passes through.
///
/// This is the one place where a panic of an evaluation is caught: evaluators report
/// errors as values and call this only as the last guard at their boundary.
pub fn guarded<E>(f: impl FnOnce() -> Result<Evaluation, E>) -> Result<Evaluation, E> {
    let start = Instant::now();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(evaluation)) => Ok(evaluation.sanitized()),
        Ok(Err(e)) => Err(e),
        Err(payload) => Ok(Evaluation::failed(
            format!("panicked: {}", panic_message(payload.as_ref())),
            start.elapsed().as_secs_f64(),
        )),
    }
}

/// [`guarded`] with a time limit: running past `timeout` becomes [`Status::Failed`]
/// ("timed out"). Without one, `f` runs on the calling thread.
///
/// With a timeout the evaluation runs on its own thread; a timed-out thread cannot be
/// killed, so it is left to finish in the background and its result is discarded.
pub fn guarded_with_timeout<F>(timeout: Option<Duration>, f: F) -> Evaluation
where
    F: FnOnce() -> Evaluation + Send + 'static,
{
    let start = Instant::now();
    let run = move || match guarded(|| Ok::<_, Infallible>(f())) {
        Ok(evaluation) => evaluation,
        Err(never) => match never {},
    };
    let Some(limit) = timeout else {
        return run();
    };
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("actfn-eval".into())
        .spawn(move || {
            let _ = tx.send(run());
        });
    if let Err(err) = spawned {
        return Evaluation::failed(format!("cannot start an evaluation thread: {err}"), 0.0);
    }
    match rx.recv_timeout(limit) {
        Ok(evaluation) => evaluation,
        Err(_) => Evaluation::failed(
            format!("timed out after {:.3} s", limit.as_secs_f64()),
            start.elapsed().as_secs_f64(),
        ),
    }
}

/// The message of a panic payload (what `catch_unwind` returns), for failure reasons.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(acc: f64, loss: f64) -> Evaluation {
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
    fn guards_panics_nans_and_timeouts() {
        let e = guarded_with_timeout(None, || panic!("boom"));
        assert!(matches!(e.status, Status::Failed { ref reason } if reason.contains("boom")));
        let e = guarded_with_timeout(None, || ok(0.5, f64::NAN));
        assert!(matches!(e.status, Status::Diverged { .. }));
        let e = guarded_with_timeout(None, || ok(f64::INFINITY, 1.0));
        assert!(matches!(e.status, Status::Diverged { .. }));
        let e = guarded_with_timeout(Some(Duration::from_millis(20)), || {
            std::thread::sleep(Duration::from_millis(500));
            ok(1.0, 0.0)
        });
        assert!(matches!(e.status, Status::Failed { ref reason } if reason.contains("timed out")));
        let e = guarded_with_timeout(Some(Duration::from_secs(5)), || ok(0.25, 2.0));
        assert_eq!(e, ok(0.25, 2.0));
        let e = guarded_with_timeout(Some(Duration::from_secs(5)), || {
            panic!("{}", String::from("late"))
        });
        assert!(matches!(e.status, Status::Failed { ref reason } if reason.contains("late")));
        // An error of the setup passes through; a panic does not escape.
        let err = guarded(|| Err::<Evaluation, _>("no data")).unwrap_err();
        assert_eq!(err, "no data");
        let e = guarded(|| -> Result<Evaluation, String> { panic!("bad op") }).unwrap();
        assert_eq!(
            e.status,
            Status::Failed {
                reason: "panicked: bad op".into()
            }
        );
    }
}
