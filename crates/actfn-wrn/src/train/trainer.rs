//! One training's steps: the seeded batches of an epoch ([`EpochBatches`]), the network
//! and its optimizer ([`Trainer`], made by [`build_trainer`]), an epoch of SGD steps, and
//! [`evaluate`], the mean loss and accuracy on a data set. The training loop (`run.rs`)
//! and the divergence pre-check (`precheck.rs`) both drive it.

use std::sync::Arc;

use actfn_expr::Expr;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{nn, Device, Kind, Reduction, Tensor};

use super::config::TrainConfig;
use super::sgd::Sgd;
use crate::activation::Activation;
use crate::augment::Augmenter;
use crate::data::TrainData;
use crate::error::{Result, WrnError};
use crate::model::{self, Arch, InputShape, Network};

/// Mixes the run seed with an epoch number into a seed for that epoch.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    // splitmix64 of seed + epoch: well spread, stable across versions.
    let mut z = seed.wrapping_add((epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mean loss and accuracy of the model on a data set, in eval mode without gradients.
pub fn evaluate(
    net: &Network,
    images: &Tensor,
    labels: &Tensor,
    batch_size: usize,
    device: Device,
) -> Result<(f64, f64)> {
    let _guard = tch::no_grad_guard();
    let n = images.size()[0];
    let mut loss_sum = 0.0;
    let mut correct = 0i64;
    let mut start = 0;
    while start < n {
        let len = (batch_size as i64).min(n - start);
        let x = images.f_narrow(0, start, len)?.f_to_device(device)?;
        let y = labels.f_narrow(0, start, len)?.f_to_device(device)?;
        let logits = net.f_forward_t(&x, false)?;
        loss_sum += logits
            .f_cross_entropy_loss::<Tensor>(&y, None, Reduction::Sum, -100, 0.0)?
            .f_double_value(&[])?;
        correct += logits
            .f_argmax(-1, false)?
            .f_eq_tensor(&y)?
            .f_sum(Kind::Int64)?
            .f_int64_value(&[])?;
        start += len;
    }
    Ok((loss_sum / n as f64, correct as f64 / n as f64))
}

/// How one epoch ended.
pub(super) enum EpochEnd {
    Done { loss: f64, acc: f64, steps: u64 },
    Diverged(String),
}

/// The batches of one epoch: the seeded order and flips. Making one seeds libtorch's
/// generator with the epoch's seed (dropout), so an epoch's randomness depends on the run
/// seed and the epoch only, whatever ran before it.
pub(super) struct EpochBatches {
    order: Vec<i64>,
    augmenter: Augmenter,
    /// The learning rate of the epoch.
    pub lr: f64,
    batch_size: usize,
    /// Leave out a last batch of one sample: batch norm over one value per feature (an
    /// MLP's) has no variance, and its running variance, unbiased, would turn NaN
    /// (PyTorch refuses such a batch). Convolutional networks normalise over the pixels
    /// too, so they train on every batch, as they always did.
    skip_single_last: bool,
}

impl EpochBatches {
    pub(super) fn new(config: &TrainConfig, epoch: usize, images: usize) -> EpochBatches {
        let seed = epoch_seed(config.seed, epoch);
        tch::manual_seed(seed as i64);
        let mut order: Vec<i64> = (0..images as i64).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        EpochBatches {
            order,
            augmenter: Augmenter::new(config.augment.clone(), seed ^ 0xA5A5_5A5A),
            lr: config.lr_at(epoch),
            batch_size: config.batch_size,
            skip_single_last: matches!(config.arch(), Arch::Mlp { .. }),
        }
    }

    /// The number of batches.
    pub(super) fn len(&self) -> usize {
        let n = self.order.len();
        let batches = n.div_ceil(self.batch_size);
        if self.skip_single_last && n > 1 && n % self.batch_size == 1 {
            batches - 1
        } else {
            batches
        }
    }

    /// The indices of batch `b`, in order (`b < len()`).
    fn indices(&self, b: usize) -> &[i64] {
        let start = b * self.batch_size;
        &self.order[start..(start + self.batch_size).min(self.order.len())]
    }
}

/// One training step's results.
pub(super) struct Step {
    /// The mean training loss of the batch, before the update.
    pub loss: f64,
    /// The logits of the batch (train mode).
    pub logits: Tensor,
    /// The labels of the batch, on the device.
    pub labels: Tensor,
}

pub(super) struct Trainer<'a> {
    pub net: Network,
    pub sgd: Sgd,
    data: &'a TrainData,
    config: &'a TrainConfig,
    device: Device,
    progress: bool,
}

/// Builds the network of `config` with `activation`, its parameters drawn from libtorch's
/// generator seeded with `config.seed`, and its optimizer. `Ok(Err(reason))`: libtorch
/// cannot create the parameters (a network too large to allocate), which fails the run;
/// `Err`: a shape that does not exist (bad input).
pub(super) fn build_trainer<'a>(
    activation: &Expr,
    data: &'a TrainData,
    config: &'a TrainConfig,
    device: Device,
    progress: bool,
) -> Result<std::result::Result<(nn::VarStore, Trainer<'a>), String>> {
    tch::manual_seed(config.seed as i64);
    let vs = nn::VarStore::new(device);
    let act = Arc::new(Activation::new(activation, config.mode));
    let input = InputShape::of_batch(&data.train_images.size())?;
    let network = config.network(data.num_classes, input);
    let net = match model::build(&vs.root(), &network, &act) {
        Ok(net) => net,
        Err(WrnError::Torch(e)) => return Ok(Err(format!("building the model: {e}"))),
        Err(e) => return Err(e),
    };
    let sgd = Sgd::new(&vs, config.momentum, config.nesterov, config.weight_decay);
    let trainer = Trainer {
        net,
        sgd,
        data,
        config,
        device,
        progress,
    };
    Ok(Ok((vs, trainer)))
}

impl Trainer<'_> {
    /// Batch `b` of `batches`: forward in train mode, and, when the loss is finite, the
    /// backward pass and an SGD step at the epoch's learning rate.
    pub(super) fn step(&mut self, batches: &mut EpochBatches, b: usize) -> Result<Step> {
        let idx = Tensor::from_slice(batches.indices(b));
        let x = self.data.train_images.f_index_select(0, &idx)?;
        let x = batches.augmenter.apply(&x)?.f_to_device(self.device)?;
        let y = self
            .data
            .train_labels
            .f_index_select(0, &idx)?
            .f_to_device(self.device)?;
        let logits = self.net.f_forward_t(&x, true)?;
        let loss = logits.f_cross_entropy_loss::<Tensor>(&y, None, Reduction::Mean, -100, 0.0)?;
        let loss_value = loss.f_double_value(&[])?;
        if loss_value.is_finite() {
            self.sgd.zero_grad();
            loss.f_backward()?;
            self.sgd.step(batches.lr)?;
        }
        Ok(Step {
            loss: loss_value,
            logits,
            labels: y,
        })
    }

    pub(super) fn epoch(&mut self, epoch: usize) -> Result<EpochEnd> {
        let cfg = self.config;
        let mut batches = EpochBatches::new(cfg, epoch, self.data.train_images.size()[0] as usize);
        let bar = if self.progress {
            let bar = ProgressBar::new(batches.len() as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:25}] {pos}/{len} {msg} {elapsed}<{eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("epoch {}/{}", epoch + 1, cfg.epochs));
            bar
        } else {
            ProgressBar::hidden()
        };
        let (mut loss_sum, mut correct, mut seen, mut steps) = (0.0, 0i64, 0usize, 0u64);
        for b in 0..batches.len() {
            let step = self.step(&mut batches, b)?;
            if !step.loss.is_finite() {
                bar.abandon();
                return Ok(EpochEnd::Diverged(format!(
                    "training loss is {} at step {} of epoch {}",
                    step.loss,
                    steps + 1,
                    epoch + 1
                )));
            }
            let n = step.labels.size()[0] as usize;
            steps += 1;
            loss_sum += step.loss * n as f64;
            correct += step
                .logits
                .f_argmax(-1, false)?
                .f_eq_tensor(&step.labels)?
                .f_sum(Kind::Int64)?
                .f_int64_value(&[])?;
            seen += n;
            bar.inc(1);
            bar.set_message(format!(
                "loss {:.4} acc {:.4}",
                loss_sum / seen as f64,
                correct as f64 / seen as f64
            ));
        }
        bar.finish_and_clear();
        Ok(EpochEnd::Done {
            loss: loss_sum / seen as f64,
            acc: correct as f64 / seen as f64,
            steps,
        })
    }
}
