//! The options that decide what a network sees before training starts: which data files
//! are acceptable, preprocessing of the images and initialisation of the weights. Part of
//! the training options (`options/training.rs`) of `train` and `search`.

use actfn_wrn::data::DataSource;
use actfn_wrn::model::ConvInit;
use actfn_wrn::zca::{PreprocessConfig, DEFAULT_ZCA_EPSILON};
use clap::{Args, ValueEnum};

/// Preprocessing and initialisation options.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Preprocessing, fitted on the training split: zca (featurewise centring and ZCA
    /// whitening, the paper's), center (centring only), normalize (each channel's mean
    /// and standard deviation) or none (pixels scaled to [0, 1]) [default: zca for CIFAR,
    /// normalize for every other data set].
    #[arg(long, value_name = "PRE", conflicts_with = "no_zca")]
    pub preprocess: Option<PreprocessKind>,
    /// Centring only, no ZCA whitening (as --preprocess center).
    #[arg(long)]
    pub no_zca: bool,
    /// ε added to the covariance eigenvalues in ZCA whitening (pixels in [0, 1]). Keras'
    /// default 1e-6 over-whitens a few thousand training images: held-out images then
    /// have several times the scale of training images.
    #[arg(
        long,
        value_name = "EPS",
        default_value_t = DEFAULT_ZCA_EPSILON,
        allow_negative_numbers = true
    )]
    pub zca_epsilon: f64,
    /// Convolution weights: `uniform` (PyTorch's default for Conv2d; learns faster in
    /// short runs) or `he` (N(0, 2 / fan-out), the WRN reference's and the paper's).
    #[arg(long, value_name = "INIT", default_value_t = ConvInit::default())]
    pub init: ConvInit,
    /// Accept data files with another number of records than the official release (a
    /// truncated download, a subset of your own); recorded in the run's configuration.
    #[arg(long)]
    pub allow_partial: bool,
}

/// The preprocessings `--preprocess` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PreprocessKind {
    /// Featurewise centring and ZCA whitening.
    Zca,
    /// Featurewise centring.
    Center,
    /// Per-channel mean and standard deviation.
    Normalize,
    /// Pixels scaled to [0, 1], nothing else.
    None,
}

impl InputArgs {
    /// The preprocessing these options ask for on `source`, checked before any data are
    /// read.
    pub fn preprocess(&self, source: &DataSource) -> anyhow::Result<PreprocessConfig> {
        if !(self.zca_epsilon >= 0.0 && self.zca_epsilon.is_finite()) {
            anyhow::bail!(
                "--zca-epsilon: zca epsilon {} must be finite and at least 0",
                self.zca_epsilon
            );
        }
        let kind = match (self.preprocess, self.no_zca) {
            (Some(kind), _) => kind,
            (None, true) => PreprocessKind::Center,
            (None, false) => {
                return Ok(PreprocessConfig {
                    zca_epsilon: self.zca_epsilon,
                    ..source.default_preprocess()
                })
            }
        };
        let zca = PreprocessConfig {
            zca_epsilon: self.zca_epsilon,
            ..PreprocessConfig::default()
        };
        Ok(match kind {
            PreprocessKind::Zca => zca,
            PreprocessKind::Center => PreprocessConfig { zca: false, ..zca },
            PreprocessKind::Normalize => PreprocessConfig {
                zca_epsilon: self.zca_epsilon,
                ..PreprocessConfig::normalize()
            },
            PreprocessKind::None => PreprocessConfig {
                zca_epsilon: self.zca_epsilon,
                ..PreprocessConfig::none()
            },
        })
    }
}
