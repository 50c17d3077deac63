//! The divergence pre-check: before a candidate is trained, the first few steps of its
//! training are run on a network of their own, and a candidate whose loss turns
//! non-finite or explodes is reported as diverged without training.
//!
//! The pre-check builds its network exactly as the training does (the run's seed, the
//! same initialisation) and takes the training's own first batches of epoch 1 (the seeded
//! order, flips and dropout) at the epoch's full learning rate, so a loss that would turn
//! NaN in those steps of the training turns NaN here too.
//!
//! A candidate counts as diverged when, at one of the steps, its training loss is not
//! finite, or above `loss_factor * ln(classes)` (a network that guesses uniformly has
//! loss `ln(classes)`). A NaN here is a NaN of the training itself at the same step (the
//! same computation on the same device and thread count), so only the loss bound can
//! stop a candidate that would have trained. Not checked, because candidates that
//! trained fine did it on recorded searches: gradient norms, which reached 1e15 and even
//! infinity at a first step without harm; losses of up to 90 `ln(classes)` in the first
//! three steps; and the loss in eval mode (running batch-norm statistics) after the
//! steps, which is NaN for `x^2` long before its running statistics settle. The gradient
//! norms are reported.
//!
//! It changes nothing of a run that passes: the training builds its network again from the
//! seed, and every epoch seeds libtorch's generator and its own shuffling and flips, so the
//! training afterwards is bit for bit the training without the pre-check.

use std::time::Instant;

use actfn_expr::Expr;
use tch::Device;

pub use super::config::PrecheckConfig;
use super::config::TrainConfig;
use super::trainer::{build_trainer, EpochBatches};
use crate::data::TrainData;
use crate::error::Result;

/// What the pre-check saw.
#[derive(Debug, Clone, PartialEq)]
pub struct PrecheckReport {
    /// The training loss of each step run (before its update).
    pub losses: Vec<f64>,
    /// The gradient norm (all parameters) of each step whose loss was finite.
    pub grad_norms: Vec<f64>,
    /// Why the candidate counts as diverged; `None`: it passed.
    pub diverged: Option<String>,
    /// Wall-clock seconds, network construction included.
    pub seconds: f64,
}

/// Runs the pre-check of `activation` trained with `config` on `data` (see the module).
/// `Err` for a libtorch error (the caller decides what it means for the run).
pub fn precheck(
    activation: &Expr,
    data: &TrainData,
    config: &TrainConfig,
    check: &PrecheckConfig,
    device: Device,
) -> Result<PrecheckReport> {
    let started = Instant::now();
    let mut report = PrecheckReport {
        losses: Vec::new(),
        grad_norms: Vec::new(),
        diverged: None,
        seconds: 0.0,
    };
    let (_vs, mut trainer) = match build_trainer(activation, data, config, device, false)? {
        Ok(built) => built,
        // No verdict: the training's own construction fails the same way, and says so.
        Err(_) => {
            report.seconds = started.elapsed().as_secs_f64();
            return Ok(report);
        }
    };
    let bound = check.loss_factor * (data.num_classes as f64).ln();
    let mut batches = EpochBatches::new(config, 0, data.train_images.size()[0] as usize);
    let steps = check.steps.min(batches.len());
    for b in 0..steps {
        let step = trainer.step(&mut batches, b)?;
        let at = b + 1;
        report.losses.push(step.loss);
        if !step.loss.is_finite() {
            report.diverged = Some(format!("training loss is {} at step {at}", step.loss));
            break;
        }
        if step.loss > bound {
            report.diverged = Some(format!(
                "training loss {:.4} at step {at} is above {bound:.4} ({} ln {})",
                step.loss, check.loss_factor, data.num_classes
            ));
            break;
        }
        report.grad_norms.push(trainer.sgd.grad_norm()?);
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
