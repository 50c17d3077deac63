//! `actfn model`: facts about the networks (parameter counts, layer widths).

use actfn_wrn::model::{self, Arch, NetworkConfig, WrnConfig};
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
    /// Build a network on the CPU and print its shape and trainable parameter count.
    Summary {
        /// The network, as `train --arch` takes it [default: WRN from --depth and --width].
        #[arg(long, value_name = "NET", conflicts_with_all = ["depth", "width"])]
        arch: Option<Arch>,
        /// WRN depth d = 6n + 4 (10, 16, 22, 28, 40, ...).
        #[arg(long, default_value_t = 28)]
        depth: i64,
        /// WRN widening factor k.
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
            arch,
            depth,
            width,
            classes,
        } => {
            let arch = arch.unwrap_or(Arch::Wrn { depth, width });
            let cfg = NetworkConfig::cifar(arch, classes);
            cfg.check()?;
            let params =
                model::count_parameters(&cfg).with_context(|| format!("cannot build {arch}"))?;
            println!("model: {arch} for {classes} classes, 3x32x32 images");
            if let Arch::Wrn { depth, width } = arch {
                let wrn = WrnConfig::new(depth, width, classes);
                let [w1, w2, w3] = wrn.widths();
                println!("blocks per group: {}", wrn.blocks_per_group()?);
                println!("group widths: {w1}, {w2}, {w3}");
                println!("dropout: {}", wrn.dropout);
            }
            println!("parameters: {params}");
            Ok(())
        }
    }
}
