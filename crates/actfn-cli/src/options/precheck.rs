//! The divergence pre-check's options, declared once: `--precheck` with its parameters in
//! the training options of `search` and `train`, and the parameters alone in the hidden
//! `actfn precheck`, which measures the pre-check against recorded searches.

use actfn_wrn::train::PrecheckConfig;
use anyhow::bail;
use clap::Args;

/// The pre-check's parameters.
#[derive(Debug, Clone, Args)]
pub struct PrecheckParams {
    /// Pre-check: training steps to run (the first batches of epoch 1) [default: 3].
    #[arg(long, value_name = "N")]
    pub precheck_steps: Option<usize>,
    /// Pre-check: a step's loss above K * ln(classes) counts as diverged [default: 500].
    #[arg(long, value_name = "K")]
    pub precheck_loss_factor: Option<f64>,
}

impl PrecheckParams {
    /// Whether a parameter was given.
    pub fn any(&self) -> bool {
        self.precheck_steps.is_some() || self.precheck_loss_factor.is_some()
    }

    /// The pre-check these parameters describe, over the defaults; checked.
    pub fn config(&self) -> anyhow::Result<PrecheckConfig> {
        let default = PrecheckConfig::default();
        let config = PrecheckConfig {
            steps: self.precheck_steps.unwrap_or(default.steps),
            loss_factor: self.precheck_loss_factor.unwrap_or(default.loss_factor),
        };
        if config.steps == 0 {
            bail!("--precheck-steps 0: the pre-check would check nothing");
        }
        if !(config.loss_factor > 0.0 && config.loss_factor.is_finite()) {
            bail!(
                "--precheck-loss-factor {}: must be finite and above 0",
                config.loss_factor
            );
        }
        Ok(config)
    }
}

/// `--precheck` and its parameters.
#[derive(Debug, Clone, Args)]
pub struct PrecheckArgs {
    /// Before training a candidate, run its first training steps on a copy of the network
    /// and record it as diverged (reason `pre-check: ...`) if its loss turns non-finite or
    /// above --precheck-loss-factor * ln(classes); a candidate that passes trains exactly
    /// as without.
    #[arg(long)]
    pub precheck: bool,
    #[command(flatten)]
    pub params: PrecheckParams,
}

impl PrecheckArgs {
    /// The pre-check asked for, if any.
    pub fn config(&self) -> anyhow::Result<Option<PrecheckConfig>> {
        if !self.precheck {
            if self.params.any() {
                bail!("--precheck-steps and --precheck-loss-factor need --precheck");
            }
            return Ok(None);
        }
        self.params.config().map(Some)
    }
}
