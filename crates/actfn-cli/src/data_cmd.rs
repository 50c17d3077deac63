//! `actfn data`: fetch the CIFAR data sets into the data folder; show a split.

use std::path::PathBuf;

use actfn_wrn::data::{self, Cifar, SplitConfig};
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
        /// Accept a tarball whose files hold another number of records than the official
        /// release (the default refuses it and leaves the data folder as it was).
        #[arg(long)]
        allow_partial: bool,
    },
    /// Print the train/validation split that `train` and `search` cut with these options,
    /// as JSON `{"train": [...], "val": [...]}`: positions in the official training set
    /// (0-based, in file order), so that another program can train on exactly the same
    /// images.
    Split {
        /// The data set.
        dataset: DatasetName,
        /// Validation images per class [default: the paper's 500 for CIFAR-10, 50 for
        /// CIFAR-100].
        #[arg(long)]
        val_per_class: Option<usize>,
        /// Keep only this many training images (balanced over classes).
        #[arg(long)]
        train_size: Option<usize>,
        /// Seed of the split (`train` and `search` use 0 unless told otherwise).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Accept data files with another number of records than the official release.
        #[arg(long)]
        allow_partial: bool,
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
            allow_partial,
        } => {
            let kind = Cifar::from(dataset);
            let report = fetch::fetch(kind, from.as_deref(), &data_dir, allow_partial)
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
        DataCommand::Split {
            dataset,
            val_per_class,
            train_size,
            seed,
            allow_partial,
            data_dir,
        } => {
            let kind = Cifar::from(dataset);
            let loaded = data::load(kind, &data_dir, allow_partial)
                .with_context(|| format!("cannot load {kind} from {}", data_dir.display()))?;
            let config = SplitConfig {
                val_per_class: val_per_class.unwrap_or_else(|| kind.paper_val_per_class()),
                train_size,
                seed,
            };
            let indices = data::split_indices(&loaded.train, &config)?;
            println!("{}", serde_json::to_string(&indices)?);
            Ok(())
        }
    }
}
