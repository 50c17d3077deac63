//! The divergence pre-check: before a candidate is trained, the first few steps of its
//! training are run on a network of their own, and a candidate whose loss or gradients
//! turn non-finite, or whose loss explodes, is reported as diverged without training.
//!
//! The pre-check builds its network exactly as the training does (the run's seed, the
//! same initialisation) and takes the training's own first batches of epoch 1 (the seeded
//! order, flips and dropout) at the epoch's full learning rate, so a loss that would turn
//! NaN in those steps of the training turns NaN here too. After the steps it runs the last
//! batch once more in eval mode (running batch-norm statistics, no dropout), as the
//! validation does, which catches functions that only break outside train mode.
//!
//! "Explodes" means: a training loss above `loss_factor * ln(classes)` (a network that
//! guesses uniformly has loss `ln(classes)`; one that learns has less), a non-finite
//! gradient norm, or a non-finite eval-mode loss.
//!
//! It changes nothing of a run that passes: the training builds its network again from the
//! seed, and every epoch seeds libtorch's generator and its own shuffling and flips, so the
//! training afterwards is bit for bit the training without the pre-check.

use std::time::Instant;

use actfn_expr::Expr;
use serde::{Deserialize, Serialize};
use tch::{Device, Reduction, Tensor};

use super::config::TrainConfig;
use super::run::{build_trainer, EpochBatches};
use crate::data::TrainData;
use crate::error::Result;

/// The pre-check's parameters (see the module).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrecheckConfig {
    /// Training steps to run (the first batches of epoch 1).
    pub steps: usize,
    /// A step's training loss above `loss_factor * ln(classes)` counts as diverged.
    pub loss_factor: f64,
}

impl Default for PrecheckConfig {
    /// Four steps, loss bound 3 ln(classes): chosen on recorded WRN-10-1 searches, where
    /// every diverged candidate but one turned NaN within its first four steps and no
    /// candidate that trained fine came near the bound (see the README).
    fn default() -> Self {
        PrecheckConfig {
            steps: 4,
            loss_factor: 3.0,
        }
    }
}

/// What the pre-check saw.
#[derive(Debug, Clone, PartialEq)]
pub struct PrecheckReport {
    /// The training loss of each step run (before its update).
    pub losses: Vec<f64>,
    /// The gradient norm (all parameters) of each step whose loss was finite.
    pub grad_norms: Vec<f64>,
    /// The eval-mode loss on the last batch after the steps, if they all passed.
    pub eval_loss: Option<f64>,
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
        eval_loss: None,
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
    let mut last_images = None;
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
        let norm = trainer.sgd.grad_norm()?;
        report.grad_norms.push(norm);
        if !norm.is_finite() {
            report.diverged = Some(format!("gradient norm is {norm} at step {at}"));
            break;
        }
        last_images = Some((step.images, step.labels));
    }
    if let (None, Some((x, y))) = (&report.diverged, last_images) {
        let loss = eval_loss(&trainer.net, &x, &y)?;
        report.eval_loss = Some(loss);
        if !loss.is_finite() {
            report.diverged = Some(format!(
                "eval-mode loss is {loss} after {} steps",
                report.losses.len()
            ));
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The mean loss of the network on one batch in eval mode, without gradients.
fn eval_loss(net: &crate::model::Wrn, x: &Tensor, y: &Tensor) -> Result<f64> {
    let _guard = tch::no_grad_guard();
    let logits = net.f_forward_t(x, false)?;
    Ok(logits
        .f_cross_entropy_loss::<Tensor>(y, None, Reduction::Mean, -100, 0.0)?
        .f_double_value(&[])?)
}
