//! The options that decide what a network sees before training starts: which data files
//! are acceptable, preprocessing of the images and initialisation of the weights. Part of
//! the training options (`training_args.rs`) of `train` and `search`.

use actfn_wrn::model::ConvInit;
use actfn_wrn::zca::{PreprocessConfig, DEFAULT_ZCA_EPSILON};
use clap::Args;

/// Preprocessing and initialisation options.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Centring only, no ZCA whitening.
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

impl InputArgs {
    /// The preprocessing these options ask for, checked before any data are read.
    pub fn preprocess(&self) -> anyhow::Result<PreprocessConfig> {
        if !(self.zca_epsilon >= 0.0 && self.zca_epsilon.is_finite()) {
            anyhow::bail!(
                "--zca-epsilon: zca epsilon {} must be finite and at least 0",
                self.zca_epsilon
            );
        }
        Ok(PreprocessConfig {
            zca: !self.no_zca,
            zca_epsilon: self.zca_epsilon,
            ..PreprocessConfig::default()
        })
    }
}
