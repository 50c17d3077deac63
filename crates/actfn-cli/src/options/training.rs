//! The training options of `search` (tasks cifar10/100), `train` and `bench`, declared once
//! so that each has one spelling and one default: the network (`--arch`, or a WRN's
//! `--wrn-depth` and `--wrn-width`), the schedule, the data split, preprocessing and the machine's data
//! folder and threads. Defaults come from actfn-wrn's `TrainConfig::search()`, the paper's
//! search training.
//!
//! `--wrn-` because `search --depth` is the depth of the search space S_d. `train` and
//! `bench step` also accept their former spellings `--depth` and `--width` (hidden
//! aliases, added where those commands are declared in `main.rs` and `commands/bench.rs`), so
//! existing scripts keep working.

use std::path::PathBuf;

use actfn_wrn::augment::AugmentConfig;
use actfn_wrn::data::{default_val_per_class, DataConfig, DataSource, ImageSize, SplitConfig};
use actfn_wrn::model::Arch;
use actfn_wrn::train::TrainConfig;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use crate::options::input::InputArgs;
use crate::options::precheck::PrecheckArgs;

/// The network: `--arch`, or WRN-d-k from `--wrn-depth` and `--wrn-width`.
#[derive(Debug, Clone, Args)]
pub struct NetworkArgs {
    /// The network: wrn-D-K, resnet-N (N = 6n+2: 20, 32, 44, 56, 110), vgg-11|13|16|19,
    /// allcnn-c (with batch norm), allcnn-c-nobn (as published), mlp-W-D (D hidden layers
    /// of W units) or mobilenetv2 [default: WRN from --wrn-depth and --wrn-width].
    #[arg(long, value_name = "NET", conflicts_with_all = ["wrn_depth", "wrn_width"])]
    pub arch: Option<Arch>,
    /// WRN depth d = 6n + 4 (not `search --depth`, the depth of the search space).
    #[arg(long, value_name = "D", default_value_t = TrainConfig::search().depth)]
    pub wrn_depth: i64,
    /// WRN widening factor k.
    #[arg(long, value_name = "K", default_value_t = TrainConfig::search().width)]
    pub wrn_width: i64,
}

impl NetworkArgs {
    /// The network these options name.
    pub fn arch(&self) -> Arch {
        self.arch.unwrap_or(Arch::Wrn {
            depth: self.wrn_depth,
            width: self.wrn_width,
        })
    }
}

/// Which data: the data set and the size its images are resized to. Part of the data
/// options of `train` and `compare` ([`RunDataArgs`]) and of `search`'s options.
#[derive(Debug, Clone, Args)]
pub struct DatasetArgs {
    /// The data set: cifar10, cifar100, mnist, fashion-mnist (fetched into the data folder
    /// with `actfn data fetch`), folder:PATH (an image folder, PATH/train/<class>/*.png|jpg
    /// and optionally PATH/test/<class>/) or npz:PATH (x_train, y_train, x_test, y_test)
    /// [default: cifar10].
    #[arg(long, value_name = "DATA")]
    pub dataset: Option<DataSource>,
    /// Resize every image of an image folder to N x N or H x W pixels (bilinear); needed
    /// when its images differ in size.
    #[arg(long, value_name = "N|HxW")]
    pub image_size: Option<ImageSize>,
}

impl DatasetArgs {
    /// The data set, CIFAR-10 unless told.
    pub fn source(&self) -> DataSource {
        self.dataset.clone().unwrap_or(DataSource::Cifar10)
    }
}

/// The data of a single training run (`train`, and each run of `compare`): the data set,
/// the test images and the split.
#[derive(Debug, Clone, Args)]
pub struct RunDataArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Evaluate only the first N images of the official test set (default: all; 0: none).
    #[arg(long, value_name = "N")]
    pub test_size: Option<usize>,
    /// Seed of the train/validation split.
    #[arg(long, default_value_t = 0)]
    pub split_seed: u64,
}

/// How a network is trained, and on which images.
#[derive(Debug, Clone, Args)]
pub struct TrainingArgs {
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Training epochs.
    #[arg(long, value_name = "E", default_value_t = TrainConfig::search().epochs)]
    pub epochs: usize,
    /// Epochs at which the learning rate is multiplied by 0.2, comma-separated; '' for a
    /// constant learning rate [default: 50%, 80% and 90% of the epochs, the paper's
    /// 25,40,45 for 50; `train` with 200 epochs: the paper's final 60,120,160].
    #[arg(long, value_name = "E1,E2,...")]
    pub milestones: Option<String>,
    /// Keep only this many training images (balanced over classes) [default: all that
    /// the validation split leaves].
    #[arg(long, value_name = "N")]
    pub train_size: Option<usize>,
    /// Validation images per class [default: the paper's 500 for CIFAR-10, 50 for
    /// CIFAR-100; 500 for MNIST and Fashion-MNIST; a tenth of the smallest class for your
    /// own data].
    #[arg(long, value_name = "V")]
    pub val_per_class: Option<usize>,
    /// Augmentation of training images: flip (random horizontal flips, the paper's),
    /// flip-crop (flips and random crops of 4-pixel zero padding) or none [default: flip
    /// for images, none for vectors].
    #[arg(long, value_name = "AUG")]
    pub augment: Option<AugmentKind>,
    /// Training batch size.
    #[arg(long, value_name = "B", default_value_t = TrainConfig::search().batch_size)]
    pub batch: usize,
    #[command(flatten)]
    pub input: InputArgs,
    /// The data folder (fill it with `actfn data fetch`) [default: data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// libtorch threads [default: libtorch's choice].
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub precheck: PrecheckArgs,
}

/// The augmentations `--augment` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AugmentKind {
    /// Random horizontal flips and random crops of the image zero-padded by 4 pixels.
    FlipCrop,
    /// Random horizontal flips.
    Flip,
    /// None.
    None,
}

impl AugmentKind {
    /// The augmentation configuration.
    pub fn config(self) -> AugmentConfig {
        AugmentConfig {
            flip: self != AugmentKind::None,
            crop_padding: (self == AugmentKind::FlipCrop).then_some(4),
        }
    }
}

/// Which default learning-rate schedule applies when `--milestones` is not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultSchedule {
    /// The search schedule scaled to the epochs (50%, 80%, 90%), whatever their number.
    Scaled,
    /// As `Scaled`, except that 200 epochs get the paper's final schedule (60, 120, 160):
    /// `actfn train` is how the paper's final trainings are run.
    FinalAt200,
}

/// The data folder when `--data-dir` is not given.
const DEFAULT_DATA_DIR: &str = "data";

impl TrainingArgs {
    /// The data folder.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }

    /// The learning-rate milestones: `--milestones`, or the default schedule.
    pub fn milestones(&self, default: DefaultSchedule) -> anyhow::Result<Vec<usize>> {
        Ok(match &self.milestones {
            Some(text) => parse_milestones(text)?,
            None if default == DefaultSchedule::FinalAt200 && self.epochs == 200 => {
                TrainConfig::final_training().milestones
            }
            None => TrainConfig::scaled_milestones(self.epochs),
        })
    }

    /// The training configuration: these options over the paper's search training, with
    /// `seed`. The schedule is checked; the caller validates the whole once it has set
    /// what only it knows.
    pub fn train_config(&self, seed: u64, default: DefaultSchedule) -> anyhow::Result<TrainConfig> {
        let milestones = self.milestones(default)?;
        check_schedule(self.epochs, &milestones)?;
        let mut config = TrainConfig {
            epochs: self.epochs,
            milestones,
            batch_size: self.batch,
            seed,
            threads: self.threads,
            init: self.input.init,
            precheck: self.precheck.config()?,
            ..TrainConfig::search()
        };
        config.set_arch(self.network.arch());
        Ok(config)
    }

    /// The data and training configurations of a run on `data`, split with `split_seed`,
    /// trained with `seed`. Defaults that depend on the data are filled in here: for your
    /// own data (a folder or an npz) that means reading it once (a folder is decoded into
    /// the cache, which the run then reads back) for its class sizes and whether its
    /// samples are images. The training configuration is checked.
    pub fn configs(
        &self,
        data: &DatasetArgs,
        split_seed: u64,
        seed: u64,
        schedule: DefaultSchedule,
    ) -> anyhow::Result<(DataConfig, TrainConfig)> {
        let source = data.source().absolute()?;
        let mut config = DataConfig {
            split: SplitConfig {
                val_per_class: 0,
                train_size: self.train_size,
                seed: split_seed,
            },
            preprocess: self.input.preprocess(&source)?,
            allow_partial: self.input.allow_partial,
            image_size: data.image_size,
            dataset: source,
        };
        let mut train = self.train_config(seed, schedule)?;
        let fixed = config.dataset.fixed_val_per_class();
        let (val_per_class, images) = match (self.val_per_class.or(fixed), &config.dataset) {
            (Some(v), DataSource::Folder(_)) => (v, true),
            (Some(_), DataSource::Npz(_)) | (None, _) => {
                let loaded = config
                    .load(&self.data_dir())
                    .with_context(|| format!("cannot read {}", config.dataset))?;
                let v = match self.val_per_class {
                    Some(v) => v,
                    None => default_val_per_class(&loaded.train.class_counts()),
                };
                (v, loaded.train.is_image())
            }
            (Some(v), _) => (v, true),
        };
        config.split.val_per_class = val_per_class;
        train.augment = match (self.augment, images) {
            (Some(AugmentKind::None), _) => AugmentKind::None.config(),
            (Some(kind), false) => bail!(
                "--augment {}: {} holds vectors, not images; use --augment none",
                kind.to_possible_value()
                    .expect("every kind has a name")
                    .get_name(),
                config.dataset
            ),
            (Some(kind), true) => kind.config(),
            (None, true) => AugmentConfig::default(),
            (None, false) => AugmentKind::None.config(),
        };
        train.validate()?;
        Ok((config, train))
    }
}

/// Parses `--milestones`: comma-separated epochs, or nothing for none.
fn parse_milestones(text: &str) -> anyhow::Result<Vec<usize>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .with_context(|| format!("--milestones: `{s}` is not an epoch number"))
        })
        .collect()
}

/// Refuses a schedule that would silently not be what was asked: no epochs, or a
/// learning-rate milestone outside `1..epochs` (one at or past the last epoch never acts).
fn check_schedule(epochs: usize, milestones: &[usize]) -> anyhow::Result<()> {
    if epochs == 0 {
        bail!("--epochs 0: nothing would be trained");
    }
    if let Some(m) = milestones.iter().find(|&&m| m == 0 || m >= epochs) {
        bail!(
            "--milestones: epoch {m} is outside 1..{epochs} (a milestone is the epoch, counting \
             from 0, at whose start the learning rate drops; it must fall inside the run)"
        );
    }
    Ok(())
}
