//! Training and evaluation of a WRN with a candidate activation: SGD with Nesterov momentum
//! and a multi-step learning-rate schedule, seeded, checkpointed at every epoch end, and
//! guarded so that a candidate that diverges or fails is reported, never a crash.
//!
//! The trainer works on plain tensors ([`TrainData`]): images f32 `[N, 3, 32, 32]`
//! (already centred and whitened), labels i64 `[N]`. [`crate::data::prepare`] makes them.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use actfn_expr::Expr;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Reduction, TchError, Tensor};

use crate::activation::{Activation, ActivationMode};
use crate::augment::{AugmentConfig, Augmenter};
use crate::checkpoint::{self, CheckpointState};
use crate::error::{Result, WrnError};
use crate::model::{wrn, ConvInit, WrnConfig};

/// Everything that decides how a model is trained (besides data and activation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// WRN depth `d = 6n + 4`.
    pub depth: i64,
    /// WRN widening factor `k`.
    pub width: i64,
    /// Epochs to train.
    pub epochs: usize,
    /// Epochs at whose start the learning rate is multiplied by `gamma`.
    pub milestones: Vec<usize>,
    /// Initial learning rate.
    pub lr: f64,
    /// Learning-rate factor at each milestone.
    pub gamma: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// L2 weight decay, applied to every parameter as in the reference.
    pub weight_decay: f64,
    /// Training batch size.
    pub batch_size: usize,
    /// Batch size for validation and test (no effect on results).
    pub eval_batch_size: usize,
    /// Dropout between the convolutions of a block.
    pub dropout: f64,
    /// How convolution weights are initialised. A configuration written before this
    /// choice existed used `he`; `he` is therefore left out when written, so that such a
    /// configuration keeps its text and hash (and its searches stay resumable).
    #[serde(
        default = "ConvInit::before_choice",
        skip_serializing_if = "ConvInit::is_before_choice"
    )]
    pub init: ConvInit,
    /// Seed of initialisation, shuffling, flips and dropout.
    pub seed: u64,
    /// libtorch intra-op threads; `None` leaves libtorch's default.
    pub threads: Option<usize>,
    /// Augmentation of training batches (the paper: horizontal flips).
    pub augment: AugmentConfig,
    /// How the activation's gradient is computed.
    pub mode: ActivationMode,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig::search()
    }
}

impl TrainConfig {
    /// The paper's search training: WRN-28-10, 50 epochs, lr 0.1 x0.2 at 25, 40, 45.
    pub fn search() -> TrainConfig {
        TrainConfig {
            depth: 28,
            width: 10,
            epochs: 50,
            milestones: vec![25, 40, 45],
            lr: 0.1,
            gamma: 0.2,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
            batch_size: 128,
            eval_batch_size: 500,
            dropout: 0.3,
            init: ConvInit::default(),
            seed: 0,
            threads: None,
            augment: AugmentConfig::default(),
            mode: ActivationMode::default(),
        }
    }

    /// The paper's final training: 200 epochs, lr 0.1 x0.2 at 60, 120, 160.
    pub fn final_training() -> TrainConfig {
        TrainConfig {
            epochs: 200,
            milestones: vec![60, 120, 160],
            ..TrainConfig::search()
        }
    }

    /// The multi-step schedule scaled to `epochs`: milestones at the same fractions of
    /// training as the search schedule (50%, 80%, 90%).
    pub fn scaled_milestones(epochs: usize) -> Vec<usize> {
        let mut m: Vec<usize> = [0.5, 0.8, 0.9]
            .iter()
            .map(|f| (f * epochs as f64).round() as usize)
            .filter(|&e| e > 0 && e < epochs)
            .collect();
        m.dedup();
        m
    }

    /// The shape of the network.
    pub fn model(&self, classes: i64) -> WrnConfig {
        WrnConfig {
            depth: self.depth,
            width: self.width,
            classes,
            dropout: self.dropout,
            init: self.init,
        }
    }

    /// The learning rate of `epoch` (counting from 0).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let passed = self.milestones.iter().filter(|&&m| m <= epoch).count();
        self.lr * self.gamma.powi(passed as i32)
    }

    /// Checks what the network cannot check itself.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(WrnError::InvalidConfig(what));
        if self.batch_size == 0 {
            return bad("batch size 0".into());
        }
        if self.eval_batch_size == 0 {
            return bad("evaluation batch size 0".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("learning rate {}", self.lr));
        }
        if self.threads == Some(0) {
            return bad("0 threads".into());
        }
        self.model(10).blocks_per_group()?;
        Ok(())
    }
}

/// Training, validation and (optionally) test tensors.
#[derive(Debug)]
pub struct TrainData {
    /// Training images, f32 `[N, 3, 32, 32]`.
    pub train_images: Tensor,
    /// Training labels, i64 `[N]`.
    pub train_labels: Tensor,
    /// Validation images.
    pub val_images: Tensor,
    /// Validation labels.
    pub val_labels: Tensor,
    /// Test images and labels, evaluated once at the end.
    pub test: Option<(Tensor, Tensor)>,
    /// Number of classes.
    pub num_classes: i64,
}

impl From<crate::data::Prepared> for TrainData {
    fn from(p: crate::data::Prepared) -> Self {
        TrainData {
            train_images: p.train_images,
            train_labels: p.train_labels,
            val_images: p.val_images,
            val_labels: p.val_labels,
            // An empty test set (a search, or `--test-size 0`) means no test evaluation.
            test: (p.test_images.size()[0] > 0).then_some((p.test_images, p.test_labels)),
            num_classes: p.num_classes as i64,
        }
    }
}

impl TrainData {
    fn check(&self) -> Result<()> {
        let check = |name: &str, x: &Tensor, y: &Tensor| -> Result<()> {
            let xs = x.size();
            if xs.len() != 4 || xs[1..] != [3, 32, 32] || x.kind() != Kind::Float {
                return Err(WrnError::Shape(format!(
                    "{name} images are {:?} {:?}, expected f32 [N, 3, 32, 32]",
                    x.kind(),
                    xs
                )));
            }
            if y.size() != [xs[0]] || y.kind() != Kind::Int64 {
                return Err(WrnError::Shape(format!(
                    "{name} labels are {:?} {:?}, expected i64 [{}]",
                    y.kind(),
                    y.size(),
                    xs[0]
                )));
            }
            Ok(())
        };
        check("training", &self.train_images, &self.train_labels)?;
        check("validation", &self.val_images, &self.val_labels)?;
        if let Some((x, y)) = &self.test {
            check("test", x, y)?;
        }
        if self.train_images.size()[0] == 0 || self.val_images.size()[0] == 0 {
            return Err(WrnError::Shape(
                "empty training or validation set".to_string(),
            ));
        }
        Ok(())
    }
}

/// Where and how a run writes, and on what device.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The run's folder: `config.ron`, `metrics.csv`, `outcome.json`, `checkpoint/`.
    /// Nothing is written without one.
    pub out_dir: Option<PathBuf>,
    /// Write a checkpoint at every epoch end (needs `out_dir`).
    pub checkpoint: bool,
    /// Resume from the checkpoint in `out_dir` if there is one of the same run.
    pub resume: bool,
    /// Show a progress bar per epoch (on a terminal).
    pub progress: bool,
    /// Device; `None` picks CUDA when available.
    pub device: Option<Device>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainStatus {
    /// Trained to the end with finite metrics.
    Ok,
    /// A loss became NaN or infinite.
    Diverged {
        /// The epoch (counting from 1) in which it happened.
        epoch: usize,
        /// What became non-finite.
        reason: String,
    },
    /// Training raised an error or panicked.
    Failed {
        /// The error.
        reason: String,
    },
}

impl TrainStatus {
    /// `ok`, `diverged` or `failed`.
    pub fn name(&self) -> &'static str {
        match self {
            TrainStatus::Ok => "ok",
            TrainStatus::Diverged { .. } => "diverged",
            TrainStatus::Failed { .. } => "failed",
        }
    }

    /// The reason of a diverged or failed run.
    pub fn reason(&self) -> Option<&str> {
        match self {
            TrainStatus::Ok => None,
            TrainStatus::Diverged { reason, .. } | TrainStatus::Failed { reason } => Some(reason),
        }
    }
}

/// Metrics of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch, counting from 1.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f64,
    /// Training accuracy over the epoch (in train mode, with dropout and flips).
    pub train_acc: f64,
    /// Validation loss (eval mode).
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_acc: f64,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
}

/// The result of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOutcome {
    /// Validation accuracy after the last epoch (NaN unless the run is `Ok`).
    pub val_acc: f64,
    /// Validation loss after the last epoch (NaN unless the run is `Ok`).
    pub val_loss: f64,
    /// Test accuracy after the last epoch, when test data was given and the run is `Ok`.
    pub test_acc: Option<f64>,
    /// Test loss, likewise.
    pub test_loss: Option<f64>,
    /// How the run ended.
    pub status: TrainStatus,
    /// Epochs completed (including those before a resume).
    pub epochs_run: usize,
    /// Wall-clock seconds of this invocation.
    pub seconds: f64,
    /// Per-epoch metrics.
    pub history: Vec<EpochMetrics>,
}

/// What the run's `config.ron` holds.
#[derive(Debug, Clone, Serialize)]
struct RunRecord<'a> {
    activation: String,
    config: &'a TrainConfig,
    device: String,
}

/// SGD with momentum, Nesterov and weight decay, as `torch.optim.SGD`, with momentum
/// buffers that can be saved and restored (libtorch's C++ optimizer does not expose them).
#[derive(Debug)]
pub struct Sgd {
    params: Vec<(String, Tensor)>,
    buffers: Vec<Option<Tensor>>,
    momentum: f64,
    nesterov: bool,
    weight_decay: f64,
}

impl Sgd {
    /// An optimizer over the trainable variables of `vs`.
    pub fn new(vs: &nn::VarStore, momentum: f64, nesterov: bool, weight_decay: f64) -> Sgd {
        let mut params: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let buffers = params.iter().map(|_| None).collect();
        Sgd {
            params,
            buffers,
            momentum,
            nesterov,
            weight_decay,
        }
    }

    /// Clears the gradients.
    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// One update with learning rate `lr` from the current gradients.
    pub fn step(&mut self, lr: f64) -> Result<(), TchError> {
        let _guard = tch::no_grad_guard();
        for ((_, p), buf) in self.params.iter_mut().zip(&mut self.buffers) {
            let g = p.f_grad()?;
            if !g.defined() {
                continue;
            }
            // d = g + wd * p
            let mut d = p.f_mul_scalar(self.weight_decay)?;
            let _ = d.f_add_(&g)?;
            if self.momentum != 0.0 {
                match buf {
                    None => *buf = Some(d.f_detach_copy()?),
                    Some(b) => {
                        let _ = b.f_mul_scalar_(self.momentum)?;
                        let _ = b.f_add_(&d)?;
                    }
                }
                let b = buf.as_ref().expect("set above");
                if self.nesterov {
                    let _ = d.f_add_(&b.f_mul_scalar(self.momentum)?)?;
                } else {
                    d = b.f_detach_copy()?;
                }
            }
            let _ = p.f_sub_(&d.f_mul_scalar_(lr)?)?;
        }
        Ok(())
    }

    /// The momentum buffers by parameter name.
    pub fn momentum_buffers(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .zip(&self.buffers)
            .filter_map(|((name, _), b)| b.as_ref().map(|b| (name.clone(), b.shallow_clone())))
            .collect()
    }

    /// Restores momentum buffers saved by [`Sgd::momentum_buffers`].
    pub fn set_momentum_buffers(&mut self, saved: Vec<(String, Tensor)>) -> Result<()> {
        let saved: std::collections::HashMap<String, Tensor> = saved.into_iter().collect();
        for ((name, p), buf) in self.params.iter().zip(&mut self.buffers) {
            *buf = match saved.get(name) {
                Some(t) if t.size() == p.size() => Some(t.f_to(p.device())?),
                Some(t) => {
                    return Err(WrnError::Checkpoint(format!(
                        "momentum of {name} has shape {:?}, the parameter {:?}",
                        t.size(),
                        p.size()
                    )))
                }
                None => None,
            };
        }
        Ok(())
    }
}

/// Sets libtorch's intra-op thread count (as `TrainConfig::threads` does for a run).
pub fn set_threads(threads: usize) {
    tch::set_num_threads(threads.max(1) as i32);
}

/// Writes `value` as pretty RON to `path` (run configurations beside their outputs).
pub fn save_ron<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = ron::ser::to_string_pretty(value, ron::ser::PrettyConfig::default())
        .map_err(|e| WrnError::InvalidConfig(format!("cannot serialise: {e}")))?;
    write_file(path, &text)
}

/// Mixes the run seed with an epoch number into a seed for that epoch.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    // splitmix64 of seed + epoch: well spread, stable across versions.
    let mut z = seed.wrapping_add((epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The message of a caught panic.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}

/// Mean loss and accuracy of the model on a data set, in eval mode without gradients.
pub fn evaluate(
    net: &impl ModuleT,
    images: &Tensor,
    labels: &Tensor,
    batch_size: usize,
    device: Device,
) -> Result<(f64, f64), TchError> {
    let _guard = tch::no_grad_guard();
    let n = images.size()[0];
    let mut loss_sum = 0.0;
    let mut correct = 0i64;
    let mut start = 0;
    while start < n {
        let len = (batch_size as i64).min(n - start);
        let x = images.f_narrow(0, start, len)?.f_to_device(device)?;
        let y = labels.f_narrow(0, start, len)?.f_to_device(device)?;
        let logits = net.forward_t(&x, false);
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
enum EpochEnd {
    Done { loss: f64, acc: f64, steps: u64 },
    Diverged(String),
}

struct Trainer<'a, M: ModuleT> {
    net: M,
    sgd: Sgd,
    data: &'a TrainData,
    config: &'a TrainConfig,
    device: Device,
    progress: bool,
}

impl<M: ModuleT> Trainer<'_, M> {
    fn epoch(&mut self, epoch: usize) -> Result<EpochEnd> {
        let cfg = self.config;
        let seed = epoch_seed(cfg.seed, epoch);
        tch::manual_seed(seed as i64);
        let n = self.data.train_images.size()[0] as usize;
        let mut order: Vec<i64> = (0..n as i64).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let mut augmenter = Augmenter::new(cfg.augment.clone(), seed ^ 0xA5A5_5A5A);
        let lr = cfg.lr_at(epoch);
        let batches = n.div_ceil(cfg.batch_size);
        let bar = if self.progress {
            let bar = ProgressBar::new(batches as u64);
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
        for chunk in order.chunks(cfg.batch_size) {
            let idx = Tensor::from_slice(chunk);
            let x = self.data.train_images.f_index_select(0, &idx)?;
            let x = augmenter.apply(&x)?.f_to_device(self.device)?;
            let y = self
                .data
                .train_labels
                .f_index_select(0, &idx)?
                .f_to_device(self.device)?;
            let logits = self.net.forward_t(&x, true);
            let loss =
                logits.f_cross_entropy_loss::<Tensor>(&y, None, Reduction::Mean, -100, 0.0)?;
            let loss_value = loss.f_double_value(&[])?;
            if !loss_value.is_finite() {
                bar.abandon();
                return Ok(EpochEnd::Diverged(format!(
                    "training loss is {loss_value} at step {} of epoch {}",
                    steps + 1,
                    epoch + 1
                )));
            }
            self.sgd.zero_grad();
            loss.f_backward()?;
            self.sgd.step(lr)?;
            steps += 1;
            loss_sum += loss_value * chunk.len() as f64;
            correct += logits
                .f_argmax(-1, false)?
                .f_eq_tensor(&y)?
                .f_sum(Kind::Int64)?
                .f_int64_value(&[])?;
            seen += chunk.len();
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

/// Runs `f`, turning an error or a panic into a failure reason.
fn guarded<T, E: std::fmt::Display>(
    what: &str,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(payload) => Err(format!("{what}: {}", panic_message(payload))),
    }
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).map_err(WrnError::io(path))
}

fn write_metrics_csv(path: &Path, history: &[EpochMetrics]) -> Result<()> {
    let mut text = String::from("epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds\n");
    for m in history {
        text.push_str(&format!(
            "{},{},{},{},{},{},{:.3}\n",
            m.epoch, m.lr, m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.seconds
        ));
    }
    write_file(path, &text)
}

/// Trains WRN-`config.depth`-`config.width` with `activation` on `data`.
///
/// Returns `Err` only for problems of the setup (an invalid configuration, malformed data,
/// an unwritable output folder). A candidate whose loss turns NaN or infinite comes back
/// as [`TrainStatus::Diverged`], one whose training raises an error or panics as
/// [`TrainStatus::Failed`]; the process goes on either way. With an output folder, the
/// outcome is written to `outcome.ron` whatever the status.
pub fn train(
    activation: &Expr,
    data: &TrainData,
    config: &TrainConfig,
    options: &RunOptions,
) -> Result<TrainOutcome> {
    let outcome = train_run(activation, data, config, options)?;
    if let Some(dir) = &options.out_dir {
        save_ron(&dir.join("outcome.ron"), &outcome)?;
    }
    Ok(outcome)
}

fn train_run(
    activation: &Expr,
    data: &TrainData,
    config: &TrainConfig,
    options: &RunOptions,
) -> Result<TrainOutcome> {
    let started = Instant::now();
    config.validate()?;
    data.check()?;
    if let Some(t) = config.threads {
        set_threads(t);
    }
    let device = options.device.unwrap_or_else(Device::cuda_if_available);
    let act_name = activation.to_string();
    if let Some(dir) = &options.out_dir {
        fs::create_dir_all(dir).map_err(WrnError::io(dir))?;
        let record = RunRecord {
            activation: act_name.clone(),
            config,
            device: format!("{device:?}"),
        };
        save_ron(&dir.join("config.ron"), &record)?;
    }

    let fail = |reason: String, history: Vec<EpochMetrics>, epochs_run: usize| TrainOutcome {
        val_acc: f64::NAN,
        val_loss: f64::NAN,
        test_acc: None,
        test_loss: None,
        status: TrainStatus::Failed { reason },
        epochs_run,
        seconds: started.elapsed().as_secs_f64(),
        history,
    };

    // Build the model; an activation that cannot even be compiled or built fails here.
    tch::manual_seed(config.seed as i64);
    let mut vs = nn::VarStore::new(device);
    let built = catch_unwind(AssertUnwindSafe(|| {
        let act = Arc::new(Activation::new(activation, config.mode));
        wrn(&vs.root(), &config.model(data.num_classes), &act)
    }));
    let net = match built {
        Ok(Ok(net)) => net,
        Ok(Err(e)) => return Err(e),
        Err(p) => {
            return Ok(fail(
                format!("building the model: {}", panic_message(p)),
                vec![],
                0,
            ))
        }
    };
    let sgd = Sgd::new(&vs, config.momentum, config.nesterov, config.weight_decay);
    let mut trainer = Trainer {
        net,
        sgd,
        data,
        config,
        device,
        progress: options.progress,
    };

    // Resume.
    let mut history: Vec<EpochMetrics> = Vec::new();
    let mut first_epoch = 0;
    let mut steps = 0u64;
    if let (true, Some(dir)) = (options.resume, &options.out_dir) {
        if let Some(ck) = checkpoint::find(dir) {
            let state = checkpoint::read_state(&ck)?;
            if state.config != *config || state.activation != act_name {
                return Err(WrnError::Checkpoint(format!(
                    "{} holds a checkpoint of another run ({} with another configuration); \
                     use another output folder or delete it",
                    ck.display(),
                    state.activation
                )));
            }
            checkpoint::load(&ck, &mut vs, &mut trainer.sgd)?;
            history = state.history;
            first_epoch = state.epochs_done;
            steps = state.steps;
        }
    }

    for epoch in first_epoch..config.epochs {
        let epoch_start = Instant::now();
        let end = match guarded("training", || trainer.epoch(epoch)) {
            Ok(end) => end,
            Err(reason) => return Ok(fail(reason, history, epoch)),
        };
        let (loss, acc, epoch_steps) = match end {
            EpochEnd::Done { loss, acc, steps } => (loss, acc, steps),
            EpochEnd::Diverged(reason) => {
                return Ok(TrainOutcome {
                    status: TrainStatus::Diverged {
                        epoch: epoch + 1,
                        reason,
                    },
                    ..fail(String::new(), history, epoch)
                })
            }
        };
        steps += epoch_steps;
        let (val_loss, val_acc) = match guarded("validation", || {
            evaluate(
                &trainer.net,
                &data.val_images,
                &data.val_labels,
                config.eval_batch_size,
                device,
            )
        }) {
            Ok(v) => v,
            Err(reason) => return Ok(fail(reason, history, epoch + 1)),
        };
        history.push(EpochMetrics {
            epoch: epoch + 1,
            lr: config.lr_at(epoch),
            train_loss: loss,
            train_acc: acc,
            val_loss,
            val_acc,
            seconds: epoch_start.elapsed().as_secs_f64(),
        });
        if options.progress {
            eprintln!(
                "epoch {}/{}: loss {loss:.4} acc {acc:.4} val_loss {val_loss:.4} val_acc {val_acc:.4} ({:.1}s)",
                epoch + 1,
                config.epochs,
                epoch_start.elapsed().as_secs_f64()
            );
        }
        if let Some(dir) = &options.out_dir {
            write_metrics_csv(&dir.join("metrics.csv"), &history)?;
            if options.checkpoint {
                let state = CheckpointState {
                    activation: act_name.clone(),
                    config: config.clone(),
                    epochs_done: epoch + 1,
                    steps,
                    history: history.clone(),
                };
                checkpoint::save(dir, &vs, &trainer.sgd, &state)?;
            }
        }
        if !val_loss.is_finite() {
            return Ok(TrainOutcome {
                status: TrainStatus::Diverged {
                    epoch: epoch + 1,
                    reason: format!("validation loss is {val_loss} after epoch {}", epoch + 1),
                },
                ..fail(String::new(), history, epoch + 1)
            });
        }
    }

    let epochs_run = config.epochs.max(first_epoch);
    let (val_loss, val_acc) = match history.last() {
        Some(m) => (m.val_loss, m.val_acc),
        // Zero epochs: evaluate the initial network.
        None => match guarded("validation", || {
            evaluate(
                &trainer.net,
                &data.val_images,
                &data.val_labels,
                config.eval_batch_size,
                device,
            )
        }) {
            Ok(v) => v,
            Err(reason) => return Ok(fail(reason, history, 0)),
        },
    };
    let (test_loss, test_acc) = match &data.test {
        None => (None, None),
        Some((x, y)) => {
            match guarded("test", || {
                evaluate(&trainer.net, x, y, config.eval_batch_size, device)
            }) {
                Ok((l, a)) => (Some(l), Some(a)),
                Err(reason) => return Ok(fail(reason, history, epochs_run)),
            }
        }
    };
    Ok(TrainOutcome {
        val_acc,
        val_loss,
        test_acc,
        test_loss,
        status: TrainStatus::Ok,
        epochs_run,
        seconds: started.elapsed().as_secs_f64(),
        history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actfn_expr::{BinaryOp, UnaryOp};

    /// Synthetic images: noise plus a per-class colour shift (class c brightens channel
    /// c, the last class darkens all three). Separable, but a network must learn it.
    fn synthetic(classes: i64, per_class: i64, seed: i64) -> (Tensor, Tensor) {
        assert!(classes <= 4);
        tch::manual_seed(seed);
        let n = classes * per_class;
        let labels = Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(classes);
        let means = Tensor::from_slice(&[
            0.5f32, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.5, -0.5, -0.5, -0.5,
        ])
        .view([4, 3, 1, 1]);
        let images = Tensor::randn([n, 3, 32, 32], (Kind::Float, Device::Cpu))
            + means.index_select(0, &labels);
        (images, labels)
    }

    fn data(classes: i64) -> TrainData {
        let (train_images, train_labels) = synthetic(classes, 64, 1);
        let (val_images, val_labels) = synthetic(classes, 10, 2);
        let (test_x, test_y) = synthetic(classes, 10, 3);
        TrainData {
            train_images,
            train_labels,
            val_images,
            val_labels,
            test: Some((test_x, test_y)),
            num_classes: classes,
        }
    }

    fn tiny() -> TrainConfig {
        TrainConfig {
            depth: 10,
            width: 1,
            epochs: 3,
            milestones: vec![2],
            batch_size: 32,
            eval_batch_size: 100,
            threads: None,
            ..TrainConfig::search()
        }
    }

    #[test]
    fn lr_schedule_is_multi_step() {
        let c = TrainConfig::search();
        assert_eq!(c.lr_at(0), 0.1);
        assert_eq!(c.lr_at(24), 0.1);
        assert!((c.lr_at(25) - 0.02).abs() < 1e-12);
        assert!((c.lr_at(40) - 0.004).abs() < 1e-12);
        assert!((c.lr_at(49) - 0.0008).abs() < 1e-12);
        assert_eq!(TrainConfig::scaled_milestones(50), [25, 40, 45]);
        assert_eq!(TrainConfig::scaled_milestones(200), [100, 160, 180]);
        assert_eq!(TrainConfig::scaled_milestones(1), Vec::<usize>::new());
    }

    #[test]
    fn config_round_trips_through_ron() {
        let c = TrainConfig::final_training();
        let text = ron::to_string(&c).unwrap();
        assert_eq!(ron::from_str::<TrainConfig>(&text).unwrap(), c);
        // Missing fields take the defaults.
        let partial: TrainConfig = ron::from_str("(depth: 10, width: 1)").unwrap();
        assert_eq!(partial.epochs, 50);
        // ... except the initialisation: a configuration written before it could be
        // chosen was trained with `he`, whatever today's default is.
        assert_eq!(partial.init, ConvInit::He);
        assert_eq!(TrainConfig::search().init, ConvInit::Uniform);
        let uniform: TrainConfig = ron::from_str("(init: uniform)").unwrap();
        assert_eq!(uniform.init, ConvInit::Uniform);
        // `he` is written as before the choice existed (not at all), so old configurations
        // keep their text and hash, and it reads back as `he`.
        let he = TrainConfig {
            init: ConvInit::He,
            ..TrainConfig::search()
        };
        let text = ron::to_string(&he).unwrap();
        assert!(!text.contains("init"), "{text}");
        assert_eq!(ron::from_str::<TrainConfig>(&text).unwrap(), he);
        assert!(ron::to_string(&TrainConfig::search())
            .unwrap()
            .contains("init:uniform"));
    }

    /// libtorch's random generator is global to the process, and the test harness runs
    /// tests in parallel threads: a test that checks bitwise reproducibility runs itself
    /// again, alone, in a child process. Returns true in the parent (after the child
    /// passed), false in the child, which then runs the test body.
    fn rerun_alone(name: &str) -> bool {
        if std::env::var_os("ACTFN_WRN_ALONE").is_some() {
            return false;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--test-threads=1", "--nocapture"])
            .env("ACTFN_WRN_ALONE", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{name} failed alone:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        true
    }

    #[test]
    fn seeded_training_learns_separable_data() {
        let data = data(4);
        let relu = Expr::unary(UnaryOp::Relu, Expr::X);
        let out = train(&relu, &data, &tiny(), &RunOptions::default()).unwrap();
        assert_eq!(out.status, TrainStatus::Ok, "{out:?}");
        assert_eq!(out.epochs_run, 3);
        assert_eq!(out.history.len(), 3);
        // Chance is 0.25.
        assert!(out.val_acc >= 0.7, "validation accuracy {}", out.val_acc);
        assert!(out.test_acc.unwrap() >= 0.7, "{out:?}");
    }

    #[test]
    fn same_seed_same_run() {
        if rerun_alone("train::tests::same_seed_same_run") {
            return;
        }
        let data = data(4);
        let relu = Expr::unary(UnaryOp::Relu, Expr::X);
        let cfg = TrainConfig {
            epochs: 2,
            ..tiny()
        };
        let a = train(&relu, &data, &cfg, &RunOptions::default()).unwrap();
        let b = train(&relu, &data, &cfg, &RunOptions::default()).unwrap();
        assert_eq!((a.val_acc, a.val_loss), (b.val_acc, b.val_loss));
        assert_eq!(a.history[1].train_loss, b.history[1].train_loss);
        let c = train(
            &relu,
            &data,
            &TrainConfig { seed: 1, ..cfg },
            &RunOptions::default(),
        );
        assert_ne!(c.unwrap().history[0].train_loss, a.history[0].train_loss);
    }

    #[test]
    fn symbolic_activation_trains_too() {
        let data = data(4);
        // x * sigmoid(x) (swish), through the symbolic-gradient path.
        let swish = Expr::binary(
            BinaryOp::Mul,
            Expr::X,
            Expr::unary(UnaryOp::Sigmoid, Expr::X),
        );
        let out = train(&swish, &data, &tiny(), &RunOptions::default()).unwrap();
        assert_eq!(out.status, TrainStatus::Ok, "{out:?}");
        assert!(out.val_acc >= 0.7, "validation accuracy {}", out.val_acc);
    }

    #[test]
    fn diverging_activation_is_reported_not_fatal() {
        let data = data(4);
        // exp(exp(x^3)) overflows to inf for x > ~1.6: the loss turns NaN at once.
        let blowup = Expr::unary(
            UnaryOp::Exp,
            Expr::unary(UnaryOp::Exp, Expr::unary(UnaryOp::Cube, Expr::X)),
        );
        for mode in [ActivationMode::SymbolicGrad, ActivationMode::Autograd] {
            let cfg = TrainConfig { mode, ..tiny() };
            let dir = tempfile::tempdir().unwrap();
            let options = RunOptions {
                out_dir: Some(dir.path().to_path_buf()),
                ..RunOptions::default()
            };
            let out = train(&blowup, &data, &cfg, &options).unwrap();
            let recorded = fs::read_to_string(dir.path().join("outcome.ron")).unwrap();
            assert!(
                recorded.contains("Diverged") || recorded.contains("diverged"),
                "{recorded}"
            );
            match &out.status {
                TrainStatus::Diverged { epoch, reason } => {
                    assert_eq!(*epoch, 1);
                    assert!(reason.contains("loss"), "{reason}");
                }
                other => panic!("expected divergence, got {other:?}"),
            }
            assert!(out.val_acc.is_nan());
            assert_eq!(out.test_acc, None);
        }
    }

    #[test]
    fn errors_and_panics_become_failure_reasons() {
        let err: Result<(), String> = guarded("training", || Err::<(), _>("out of memory"));
        assert_eq!(err.unwrap_err(), "training: out of memory");
        let panicked: Result<(), String> = guarded("training", || -> Result<(), String> {
            panic!("activation sqrt(x) failed: shape mismatch")
        });
        assert_eq!(
            panicked.unwrap_err(),
            "training: activation sqrt(x) failed: shape mismatch"
        );
    }

    #[test]
    fn checkpoint_resume_continues_the_same_run() {
        if rerun_alone("train::tests::checkpoint_resume_continues_the_same_run") {
            return;
        }
        let data = data(4);
        let relu = Expr::unary(UnaryOp::Relu, Expr::X);
        let full = train(&relu, &data, &tiny(), &RunOptions::default()).unwrap();

        // A run killed after epoch 2 of 3: train 2 epochs (same schedule so far) with
        // checkpoints, then relabel the checkpoint as the 3-epoch run's.
        let dir = tempfile::tempdir().unwrap();
        let options = RunOptions {
            out_dir: Some(dir.path().to_path_buf()),
            checkpoint: true,
            resume: true,
            ..RunOptions::default()
        };
        let two = TrainConfig {
            epochs: 2,
            ..tiny()
        };
        train(&relu, &data, &two, &options).unwrap();
        for file in ["config.ron", "metrics.csv", "outcome.ron"] {
            assert!(dir.path().join(file).is_file(), "{file}");
        }
        let ck = checkpoint::find(dir.path()).unwrap();
        let mut state = checkpoint::read_state(&ck).unwrap();
        assert_eq!(state.epochs_done, 2);
        state.config = tiny();
        let text = ron::ser::to_string_pretty(&state, Default::default()).unwrap();
        fs::write(ck.join("state.ron"), text).unwrap();

        let resumed = train(&relu, &data, &tiny(), &options).unwrap();
        assert_eq!(resumed.status, TrainStatus::Ok);
        assert_eq!(resumed.epochs_run, 3);
        assert_eq!(resumed.history.len(), 3);
        for (r, f) in resumed.history.iter().zip(&full.history) {
            assert_eq!((r.train_loss, r.val_loss), (f.train_loss, f.val_loss));
        }
        assert_eq!(resumed.val_acc, full.val_acc);
        let csv = fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
        assert_eq!(csv.lines().count(), 4);

        // Another configuration in the same folder is refused, not silently mixed.
        let other = TrainConfig { seed: 9, ..tiny() };
        let err = train(&relu, &data, &other, &options).unwrap_err();
        assert!(err.to_string().contains("another run"), "{err}");
    }
}
