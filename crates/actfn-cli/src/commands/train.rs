//! `actfn train`: train a network with one activation on a data set and report validation
//! and test accuracy.

use std::path::PathBuf;

use actfn_expr::Expr;
use actfn_wrn::activation::ActivationMode;
use actfn_wrn::data;
use actfn_wrn::model::{expected_parameter_count, Arch, WrnConfig};
use actfn_wrn::train::{self, RunOptions, TrainConfig, TrainData, TrainStatus};
use anyhow::Context;

use clap::Args;

use crate::exit::{first_line, JobFailed};
use crate::options::training::{AugmentKind, DefaultSchedule, RunDataArgs, TrainingArgs};
use crate::output::json_out::{check_json_out, write_json_atomic};

/// Arguments of `actfn train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The activation, e.g. `relu(x)` or `tanh(x) * min(x, 0)`.
    #[arg(long, allow_hyphen_values = true)]
    activation: String,
    #[command(flatten)]
    data: RunDataArgs,
    #[command(flatten)]
    training: TrainingArgs,
    /// Initial learning rate.
    #[arg(long, default_value_t = TrainConfig::search().lr, allow_hyphen_values = true)]
    lr: f64,
    /// Seed of initialisation, shuffling, flips and dropout.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How the activation's gradient is computed: `symbolic` or `autograd`.
    #[arg(long, default_value = "symbolic")]
    mode: ActivationMode,
    /// No random horizontal flips (as --augment none).
    #[arg(long, conflicts_with = "augment")]
    no_flip: bool,
    /// The run's folder: config.ron, data.ron, metrics.csv, outcome.ron and an epoch-end
    /// checkpoint, from which a rerun with the same arguments resumes.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print exactly one JSON object {"val_acc", "val_loss", "test_acc", "status",
    /// "seconds"} instead of text, and per-epoch lines instead of progress bars.
    #[arg(long)]
    json: bool,
    /// Also write that JSON object to FILE (atomically: a reader never sees half of it).
    #[arg(long, value_name = "FILE")]
    json_out: Option<PathBuf>,
}

/// Runs `actfn train`.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.json_out {
        check_json_out(path, args.out.as_deref())?;
    }
    let expr: Expr = args
        .activation
        .parse()
        .with_context(|| format!("cannot read the activation {:?}", args.activation))?;
    let (data_config, config) = args.training.configs(
        &args.data.dataset,
        args.data.split_seed,
        args.seed,
        DefaultSchedule::FinalAt200,
    )?;
    let kind = data_config.dataset.clone();
    let config = TrainConfig {
        lr: args.lr,
        augment: if args.no_flip {
            AugmentKind::None.config()
        } else {
            config.augment
        },
        mode: args.mode,
        ..config
    };
    config.validate()?;
    if let Some(t) = args.training.threads {
        // Also for the preprocessing below, not only the training.
        train::set_threads(t);
    }

    let prepared =
        data::prepare_with_test_size(&args.training.data_dir(), &data_config, args.data.test_size)
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
        stop_after: None,
    };
    let outcome = train::train(&expr, &data, &config, &options)
        .with_context(|| format!("cannot train with {expr}"))?;

    if let (TrainStatus::Diverged { .. }, Some(reason)) = (&outcome.status, outcome.status.reason())
    {
        eprintln!("actfn: {expr} diverged: {}", first_line(reason));
    }
    let result = outcome.result();
    if let Some(path) = &args.json_out {
        write_json_atomic(path, &result)?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
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
        let arch = config.arch();
        // A WRN's size has a closed form; it says whether the network was too large.
        let size = match arch {
            Arch::Wrn { depth, width } => {
                let wrn = WrnConfig {
                    init: config.init,
                    ..WrnConfig::new(depth, width, data.num_classes)
                };
                let channels = data.train_images.size().get(1).copied().unwrap_or(3);
                expected_parameter_count(&wrn, channels)
                    .map_or_else(|_| String::new(), |n| format!(", {n} parameters"))
            }
            _ => String::new(),
        };
        return Err(JobFailed(format!(
            "training failed: {} ({arch}{size})",
            first_line(reason),
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
        assert_eq!(w.args.training.milestones.as_deref(), Some(""));
    }
}
