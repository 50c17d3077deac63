//! `actfn data`: fetch a data set into the data folder, show a split, export a data set as
//! an image folder or an npz.

use std::path::PathBuf;

use actfn_data::Loaded;
use actfn_wrn::data::{self, DataConfig, DataSource, ImageSize, SplitConfig};
use actfn_wrn::fetch;
use anyhow::{bail, Context};
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
    /// cifar10 and cifar100: without --from, downloads the official binary tarball and
    /// checks its published md5. mnist and fashion-mnist: downloads the four official IDX
    /// files and checks each md5; --from is a folder holding them (or an http(s) address
    /// they are under). Does nothing if the data set is already there. Offline, download
    /// the files elsewhere and pass them with --from, or put them in the data folder.
    Fetch {
        /// The data set: cifar10, cifar100, mnist or fashion-mnist.
        dataset: DataSource,
        /// CIFAR: a local .tar.gz or an http(s) URL; MNIST and Fashion-MNIST: a folder or
        /// an http(s) address holding the four .gz files.
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
        /// The data set (as `--dataset` of `train`).
        dataset: DataSource,
        /// Validation images per class [default: as `train`'s].
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
        /// Resize an image folder's images (as `train --image-size`).
        #[arg(long, value_name = "N|HxW")]
        image_size: Option<ImageSize>,
        /// The data folder.
        #[arg(long, value_name = "DIR", default_value = "data")]
        data_dir: PathBuf,
    },
    /// Write a data set (or a balanced part of it) as an image folder or an npz archive,
    /// samples grouped by class in their order, so that both formats hold the same samples
    /// in the same order: a way to try `--dataset folder:` and `npz:` on known data, or to
    /// hand the same images to another program.
    Export {
        /// The data set (as `--dataset` of `train`).
        dataset: DataSource,
        /// The format written.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Where: a new folder, or the .npz file.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        /// Keep only this many training samples, balanced over classes (seeded by --seed).
        #[arg(long, value_name = "N")]
        train_size: Option<usize>,
        /// Keep only the first N test samples (0: none).
        #[arg(long, value_name = "N")]
        test_size: Option<usize>,
        /// Seed of the balanced subsample.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Resize an image folder's images.
        #[arg(long, value_name = "N|HxW")]
        image_size: Option<ImageSize>,
        /// Accept data files with another number of records than the official release.
        #[arg(long)]
        allow_partial: bool,
        /// The data folder.
        #[arg(long, value_name = "DIR", default_value = "data")]
        data_dir: PathBuf,
    },
}

/// The formats `data export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    /// PNG files in torchvision's ImageFolder layout (byte images only).
    Folder,
    /// A NumPy .npz archive.
    Npz,
}

/// The configuration that reads `dataset` as `train` does (preprocessing aside).
fn reading(
    dataset: DataSource,
    image_size: Option<ImageSize>,
    allow_partial: bool,
) -> anyhow::Result<DataConfig> {
    Ok(DataConfig {
        split: SplitConfig {
            val_per_class: 0,
            train_size: None,
            seed: 0,
        },
        preprocess: dataset.default_preprocess(),
        allow_partial,
        image_size,
        dataset: dataset.absolute()?,
    })
}

/// Runs `actfn data ...`.
pub fn run(args: DataArgs) -> anyhow::Result<()> {
    match args.command {
        DataCommand::Fetch {
            dataset,
            from,
            data_dir,
            allow_partial,
        } => fetch_data(&dataset, from.as_deref(), &data_dir, allow_partial),
        DataCommand::Split {
            dataset,
            val_per_class,
            train_size,
            seed,
            allow_partial,
            image_size,
            data_dir,
        } => {
            let config = reading(dataset, image_size, allow_partial)?;
            let loaded = config
                .load(&data_dir)
                .with_context(|| format!("cannot load {}", config.dataset))?;
            let val_per_class = val_per_class
                .or(config.dataset.fixed_val_per_class())
                .unwrap_or_else(|| data::default_val_per_class(&loaded.train.class_counts()));
            let split = SplitConfig {
                val_per_class,
                train_size,
                seed,
            };
            let indices = data::split_indices(&loaded.train, &split)?;
            println!("{}", serde_json::to_string(&indices)?);
            Ok(())
        }
        DataCommand::Export {
            dataset,
            format,
            out,
            train_size,
            test_size,
            seed,
            image_size,
            allow_partial,
            data_dir,
        } => {
            let config = reading(dataset, image_size, allow_partial)?;
            let loaded = config
                .load(&data_dir)
                .with_context(|| format!("cannot load {}", config.dataset))?;
            let loaded = exported_part(loaded, train_size, test_size, seed)?;
            match format {
                ExportFormat::Folder => actfn_data::folder::write(&loaded, &out)?,
                ExportFormat::Npz => {
                    if out.exists() {
                        bail!("{}: already exists; choose a new file", out.display());
                    }
                    actfn_data::npz::write(&loaded, &out)?
                }
            }
            println!(
                "{}: {} training and {} test samples of {} classes, shape {:?}, in {}",
                config.dataset,
                loaded.train.len(),
                loaded.test.len(),
                loaded.train.num_classes,
                loaded.train.shape,
                out.display()
            );
            Ok(())
        }
    }
}

/// `loaded` cut down to a balanced `train_size` training samples and the first
/// `test_size` test samples, each grouped by class.
fn exported_part(
    loaded: Loaded,
    train_size: Option<usize>,
    test_size: Option<usize>,
    seed: u64,
) -> anyhow::Result<Loaded> {
    let keep = SplitConfig {
        val_per_class: 0,
        train_size,
        seed,
    };
    let train = data::split(&loaded.train, &keep)?.train;
    let test = match test_size {
        Some(n) if n > loaded.test.len() => {
            bail!(
                "--test-size {n}: the data set has {} test samples",
                loaded.test.len()
            )
        }
        Some(n) => loaded.test.subset(&(0..n).collect::<Vec<_>>()),
        None => loaded.test,
    };
    Ok(Loaded {
        train: train.grouped_by_class(),
        test: test.grouped_by_class(),
        class_names: loaded.class_names,
    })
}

/// `actfn data fetch`.
fn fetch_data(
    dataset: &DataSource,
    from: Option<&str>,
    data_dir: &std::path::Path,
    allow_partial: bool,
) -> anyhow::Result<()> {
    if let Some(set) = dataset.idx() {
        let report = fetch::fetch_idx(set, from, data_dir)
            .with_context(|| format!("cannot fetch {dataset}"))?;
        match report.images {
            None => println!(
                "{dataset} is already in {} (pass --from to replace it)",
                report.dir.display()
            ),
            Some((train, test)) => println!(
                "{dataset}: {train} training and {test} test images in {} (md5 of every file checked)",
                report.dir.display()
            ),
        }
        return Ok(());
    }
    let Some(kind) = dataset.cifar() else {
        bail!("{dataset} is your own data: it needs no fetch (use it as --dataset {dataset})");
    };
    let report = fetch::fetch(kind, from, data_dir, allow_partial)
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
