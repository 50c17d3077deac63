//! `actfn data`: fetch the CIFAR data sets into the data folder.

use std::path::PathBuf;

use actfn_wrn::data::Cifar;
use actfn_wrn::fetch;
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

/// Arguments of `actfn data`.
#[derive(Debug, Args)]
pub struct DataArgs {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Download a data set (or take it from --from), check it and unpack it into DIR.
    ///
    /// Without --from, downloads the official binary tarball and checks its published md5;
    /// does nothing if the data set is already there. Offline, download the tarball
    /// elsewhere and pass it with --from, or put it in the data folder.
    Fetch {
        /// The data set.
        dataset: DatasetName,
        /// A local .tar.gz or an http(s) URL to take the data set from.
        #[arg(long, value_name = "PATH_OR_URL")]
        from: Option<String>,
        /// The data folder.
        #[arg(long, value_name = "DIR", default_value = "data")]
        data_dir: PathBuf,
    },
}

/// A CIFAR data set, as named on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum DatasetName {
    Cifar10,
    Cifar100,
}

impl From<DatasetName> for Cifar {
    fn from(name: DatasetName) -> Self {
        match name {
            DatasetName::Cifar10 => Cifar::Cifar10,
            DatasetName::Cifar100 => Cifar::Cifar100,
        }
    }
}

/// Runs `actfn data ...`.
pub fn run(args: DataArgs) -> anyhow::Result<()> {
    match args.command {
        DataCommand::Fetch {
            dataset,
            from,
            data_dir,
        } => {
            let kind = Cifar::from(dataset);
            let report = fetch::fetch(kind, from.as_deref(), &data_dir)
                .with_context(|| format!("cannot fetch {kind}"))?;
            let Some(info) = report.tarball else {
                println!(
                    "{kind} is already in {} (pass --from to replace it)",
                    report.dir.display()
                );
                return Ok(());
            };
            println!(
                "{kind}: {} training and {} test images in {}",
                info.train_images,
                info.test_images,
                report.dir.display()
            );
            println!("from   {}", info.path.display());
            println!("md5    {}", info.md5);
            println!("sha256 {}", info.sha256);
            match info.known {
                Some(known) => println!("known: {}", known.description),
                None => println!("not a known tarball: its records were checked one by one"),
            }
            Ok(())
        }
    }
}
