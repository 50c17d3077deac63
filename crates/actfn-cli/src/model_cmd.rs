//! `actfn model`: facts about WRN-d-k networks (parameter counts, layer widths).

use actfn_wrn::model::{self, WrnConfig};
use anyhow::Context;
use clap::{Args, Subcommand};

/// Arguments of `actfn model`.
#[derive(Debug, Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    command: ModelCommand,
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Build WRN-DEPTH-WIDTH on the CPU and print its shape and trainable parameter count.
    Summary {
        /// Depth d = 6n + 4 (10, 16, 22, 28, 40, ...).
        #[arg(long, default_value_t = 28)]
        depth: i64,
        /// Widening factor k.
        #[arg(long, default_value_t = 10)]
        width: i64,
        /// Number of classes (10 for CIFAR-10, 100 for CIFAR-100).
        #[arg(long, default_value_t = 10)]
        classes: i64,
    },
}

/// Runs `actfn model ...`.
pub fn run(args: ModelArgs) -> anyhow::Result<()> {
    match args.command {
        ModelCommand::Summary {
            depth,
            width,
            classes,
        } => {
            let cfg = WrnConfig::new(depth, width, classes);
            let n = cfg.blocks_per_group()?;
            let params = model::count_parameters(&cfg)
                .with_context(|| format!("cannot build WRN-{depth}-{width}"))?;
            let [w1, w2, w3] = cfg.widths();
            println!("model: WRN-{depth}-{width} for {classes} classes");
            println!("blocks per group: {n}");
            println!("group widths: {w1}, {w2}, {w3}");
            println!("dropout: {}", cfg.dropout);
            println!("parameters: {params}");
            Ok(())
        }
    }
}
