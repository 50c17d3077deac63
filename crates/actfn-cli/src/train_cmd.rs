//! `actfn train`: train a WRN with one activation on CIFAR-10/100 and report validation
//! and test accuracy.

use std::path::PathBuf;

use actfn_expr::Expr;
use actfn_wrn::activation::ActivationMode;
use actfn_wrn::augment::AugmentConfig;
use actfn_wrn::data::{self, Cifar, DataConfig, SplitConfig};
use actfn_wrn::model::expected_parameter_count;
use actfn_wrn::train::{self, RunOptions, TrainConfig, TrainData, TrainStatus};
use anyhow::Context;

use clap::Args;
use serde::Serialize;

use crate::data_cmd::DatasetName;
use crate::exit::{first_line, JobFailed};
use crate::input_args::InputArgs;

/// Arguments of `actfn train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The activation, e.g. `relu(x)` or `tanh(x) * min(x, 0)`.
    #[arg(long, allow_hyphen_values = true)]
    activation: String,
    /// The data set.
    #[arg(long, default_value = "cifar10")]
    dataset: DatasetName,
    /// The data folder (fill it with `actfn data fetch`).
    #[arg(long, value_name = "DIR", default_value = "data")]
    data_dir: PathBuf,
    /// WRN depth d = 6n + 4.
    #[arg(long, default_value_t = 28)]
    depth: i64,
    /// WRN widening factor k.
    #[arg(long, default_value_t = 10)]
    width: i64,
    /// Epochs.
    #[arg(long, default_value_t = 50)]
    epochs: usize,
    /// Epochs at which the learning rate is multiplied by 0.2 (default: 60,120,160 for
    /// 200 epochs, as the paper's final training; otherwise 50%, 80% and 90% of the
    /// epochs, which is the paper's 25,40,45 for 50).
    /// An empty value (`--milestones ''`) means a constant learning rate.
    #[arg(long, value_name = "EPOCHS")]
    milestones: Option<String>,
    /// Keep only this many training images (balanced over classes).
    #[arg(long)]
    train_size: Option<usize>,
    /// Validation images per class (default: the paper's 500 for CIFAR-10, 50 for
    /// CIFAR-100).
    #[arg(long)]
    val_per_class: Option<usize>,
    /// Evaluate only the first N images of the official test set (default: all; 0: none).
    #[arg(long, value_name = "N")]
    test_size: Option<usize>,
    /// Seed of the train/validation split.
    #[arg(long, default_value_t = 0)]
    split_seed: u64,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Initial learning rate.
    #[arg(long, default_value_t = 0.1, allow_hyphen_values = true)]
    lr: f64,
    /// libtorch threads (default: libtorch's choice).
    #[arg(long)]
    threads: Option<usize>,
    /// Seed of initialisation, shuffling, flips and dropout.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How the activation's gradient is computed: `symbolic` or `autograd`.
    #[arg(long, default_value = "symbolic")]
    mode: ActivationMode,
    /// No random horizontal flips.
    #[arg(long)]
    no_flip: bool,
    #[command(flatten)]
    input: InputArgs,
    /// The run's folder: config.ron, data.ron, metrics.csv, outcome.ron and an epoch-end
    /// checkpoint, from which a rerun with the same arguments resumes.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print exactly one JSON object {"val_acc", "val_loss", "test_acc", "status",
    /// "seconds"}.
    #[arg(long)]
    json: bool,
}

/// The `--json` line.
#[derive(Debug, Serialize)]
struct JsonOutcome {
    val_acc: Option<f64>,
    val_loss: Option<f64>,
    test_acc: Option<f64>,
    status: &'static str,
    /// Wall time of the training and evaluation, without data preparation.
    seconds: f64,
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// The default schedule for `epochs` (see `--milestones`).
fn default_milestones(epochs: usize) -> Vec<usize> {
    if epochs == 200 {
        TrainConfig::final_training().milestones
    } else {
        TrainConfig::scaled_milestones(epochs)
    }
}

/// Runs `actfn train`.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let expr: Expr = args
        .activation
        .parse()
        .with_context(|| format!("cannot read the activation {:?}", args.activation))?;
    let kind = Cifar::from(args.dataset);
    let data_config = DataConfig {
        dataset: kind,
        split: SplitConfig {
            val_per_class: args
                .val_per_class
                .unwrap_or_else(|| kind.paper_val_per_class()),
            train_size: args.train_size,
            seed: args.split_seed,
        },
        preprocess: args.input.preprocess()?,
        allow_partial: args.input.allow_partial,
    };
    let config = TrainConfig {
        depth: args.depth,
        width: args.width,
        epochs: args.epochs,
        milestones: match &args.milestones {
            Some(text) => crate::search_cmd::parse_milestones(text)?,
            None => default_milestones(args.epochs),
        },
        lr: args.lr,
        batch_size: args.batch,
        seed: args.seed,
        threads: args.threads,
        augment: AugmentConfig {
            flip: !args.no_flip,
            ..AugmentConfig::default()
        },
        mode: args.mode,
        init: args.input.init,
        ..TrainConfig::search()
    };
    crate::search_cmd::check_schedule(config.epochs, &config.milestones)?;
    config.validate()?;
    if let Some(t) = args.threads {
        // Also for the preprocessing below, not only the training.
        train::set_threads(t);
    }

    let prepared = data::prepare_with_test_size(&args.data_dir, &data_config, args.test_size)
        .with_context(|| format!("cannot prepare {kind}"))?;
    let data = TrainData::from(prepared);
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        train::save_ron(&dir.join("data.ron"), &data_config)?;
    }
    let options = RunOptions {
        out_dir: args.out.clone(),
        checkpoint: args.out.is_some(),
        resume: args.out.is_some(),
        progress: !args.json,
        device: None,
    };
    let outcome = train::train(&expr, &data, &config, &options)
        .with_context(|| format!("cannot train with {expr}"))?;

    if let (TrainStatus::Diverged { .. }, Some(reason)) = (&outcome.status, outcome.status.reason())
    {
        eprintln!("actfn: {expr} diverged: {}", first_line(reason));
    }
    if args.json {
        let line = JsonOutcome {
            val_acc: finite(outcome.val_acc),
            val_loss: finite(outcome.val_loss),
            test_acc: outcome.test_acc,
            status: outcome.status.name(),
            seconds: outcome.seconds,
        };
        println!("{}", serde_json::to_string(&line)?);
    } else {
        println!("activation: {expr}");
        println!("status: {}", outcome.status.name());
        if let TrainStatus::Diverged { epoch, .. } = outcome.status {
            println!("diverged in epoch: {epoch}");
        }
        println!("epochs: {}", outcome.epochs_run);
        println!("val_acc: {:.4}", outcome.val_acc);
        println!("val_loss: {:.4}", outcome.val_loss);
        match outcome.test_acc {
            Some(a) => println!("test_acc: {a:.4}"),
            None => println!("test_acc: -"),
        }
        println!("seconds: {:.1}", outcome.seconds);
        if let Some(dir) = &args.out {
            println!("outputs: {}", dir.display());
        }
    }
    if let TrainStatus::Failed { reason } = &outcome.status {
        let model = config.model(data.num_classes);
        let parameters =
            expected_parameter_count(&model).map_or_else(|_| "?".to_owned(), |n| n.to_string());
        return Err(JobFailed(format!(
            "training failed: {} (WRN-{}-{}, {parameters} parameters)",
            first_line(reason),
            model.depth,
            model.width
        ))
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: TrainArgs,
    }

    #[test]
    fn activation_may_start_with_a_minus() {
        let w = Wrapper::try_parse_from([
            "actfn",
            "--activation",
            "-(atan(x) * x)",
            "--milestones",
            "",
        ])
        .unwrap();
        assert_eq!(w.args.activation, "-(atan(x) * x)");
        assert_eq!(w.args.milestones.as_deref(), Some(""));
    }
}
