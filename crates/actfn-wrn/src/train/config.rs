//! [`TrainConfig`]: everything that decides how a model is trained, and the paper's
//! presets (search training, final training) and learning-rate schedule.

use serde::{Deserialize, Serialize};

use crate::activation::ActivationMode;
use crate::augment::AugmentConfig;
use crate::error::{Result, WrnError};
use crate::model::{Arch, ConvInit, InputShape, NetworkConfig};

/// Everything that decides how a model is trained (besides data and activation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// WRN depth `d = 6n + 4`, when [`TrainConfig::arch`] is `None`.
    pub depth: i64,
    /// WRN widening factor `k`, when [`TrainConfig::arch`] is `None`.
    pub width: i64,
    /// Another network than WRN-`depth`-`width`; never an [`Arch::Wrn`] (see
    /// [`TrainConfig::set_arch`]). Left out when `None`, so that WRN configurations written
    /// before other networks existed keep their text and hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<Arch>,
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
    /// Dropout between the convolutions of a WRN block (the other networks have none).
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
    /// The divergence pre-check before the training ([`super::precheck`]); `None`: none.
    /// Left out when `None`, so that configurations without it keep their text and hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precheck: Option<PrecheckConfig>,
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
            arch: None,
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
            precheck: None,
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

    /// The network that is trained.
    pub fn arch(&self) -> Arch {
        self.arch.unwrap_or(Arch::Wrn {
            depth: self.depth,
            width: self.width,
        })
    }

    /// Trains `arch` from now on. A WRN is stored as `depth` and `width` (as before other
    /// networks existed, so that its configuration keeps its text and hash); another
    /// network in `arch`, `depth` and `width` keeping their defaults.
    pub fn set_arch(&mut self, arch: Arch) {
        match arch {
            Arch::Wrn { depth, width } => {
                self.depth = depth;
                self.width = width;
                self.arch = None;
            }
            other => self.arch = Some(other),
        }
    }

    /// The shape of the network for `classes` classes and inputs of shape `input`.
    pub fn network(&self, classes: i64, input: InputShape) -> NetworkConfig {
        NetworkConfig {
            arch: self.arch(),
            classes,
            input,
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
        if let Some(Arch::Wrn { .. }) = self.arch {
            return bad("a WRN given as `arch` instead of `depth` and `width`".into());
        }
        self.network(10, InputShape::CIFAR).check()?;
        Ok(())
    }
}

/// The divergence pre-check's parameters (see [`super::precheck`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrecheckConfig {
    /// Training steps to run (the first batches of epoch 1).
    pub steps: usize,
    /// A step's training loss above `loss_factor * ln(classes)` counts as diverged.
    pub loss_factor: f64,
}

impl Default for PrecheckConfig {
    /// Three steps, loss bound 500 ln(classes), chosen on recorded WRN-10-1 searches
    /// (see the README): there every candidate whose training diverged was caught within
    /// three steps, by a NaN or a loss of at least 2,300 ln(classes), while the candidates
    /// that trained fine stayed below 90 ln(classes) in their first three steps.
    fn default() -> Self {
        PrecheckConfig {
            steps: 3,
            loss_factor: 500.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_wrn_keeps_its_text_and_other_networks_are_named() {
        let mut c = TrainConfig::search();
        let before = ron::to_string(&c).unwrap();
        c.set_arch("wrn-16-4".parse().unwrap());
        assert_eq!((c.depth, c.width, c.arch), (16, 4, None));
        c.set_arch("wrn-28-10".parse().unwrap());
        assert_eq!(ron::to_string(&c).unwrap(), before);
        assert!(!before.contains("arch"), "{before}");
        c.set_arch("resnet-56".parse().unwrap());
        let text = ron::to_string(&c).unwrap();
        assert!(text.contains("arch:Some(\"resnet-56\")"), "{text}");
        let back: TrainConfig = ron::from_str(&text).unwrap();
        assert_eq!(back.arch().to_string(), "resnet-56");
        c.validate().unwrap();
        // A name edited into one that does not exist does not read.
        let err = ron::from_str::<TrainConfig>("(arch: Some(\"resnet-21\"))").unwrap_err();
        assert!(err.to_string().contains("6n + 2"), "{err}");
    }
}
