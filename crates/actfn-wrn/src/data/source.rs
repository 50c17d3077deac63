//! [`DataSource`]: which data a run trains on (`--dataset`), and reading it.
//!
//! | name | what |
//! |---|---|
//! | `cifar10`, `cifar100` | the official binary releases, in the data folder |
//! | `mnist`, `fashion-mnist` | the official IDX files, in the data folder |
//! | `folder:PATH` | an image folder in torchvision's `ImageFolder` layout |
//! | `npz:PATH` | a NumPy archive of `x_train`, `y_train` (and `x_test`, `y_test`) |
//!
//! In a stored configuration a source is `cifar10`, `fashion_mnist`, `folder("PATH")`,
//! ...: CIFAR keeps the text (and so the hash) it had when it was the only choice.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use actfn_data::{IdxSet, ImageSize, Loaded};
use serde::{Deserialize, Serialize};

use super::cifar::Cifar;
use super::files;
use crate::error::{Result, WrnError};
use crate::zca::PreprocessConfig;

/// Which data a run trains on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSource {
    /// CIFAR-10.
    Cifar10,
    /// CIFAR-100 (fine labels).
    Cifar100,
    /// MNIST.
    Mnist,
    /// Fashion-MNIST.
    FashionMnist,
    /// An image folder (`PATH/train/<class>/...`, optional `PATH/test/<class>/...`).
    Folder(PathBuf),
    /// A NumPy `.npz` archive.
    Npz(PathBuf),
}

impl From<Cifar> for DataSource {
    fn from(kind: Cifar) -> Self {
        match kind {
            Cifar::Cifar10 => DataSource::Cifar10,
            Cifar::Cifar100 => DataSource::Cifar100,
        }
    }
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSource::Cifar10 => f.write_str("cifar10"),
            DataSource::Cifar100 => f.write_str("cifar100"),
            DataSource::Mnist => f.write_str("mnist"),
            DataSource::FashionMnist => f.write_str("fashion-mnist"),
            DataSource::Folder(p) => write!(f, "folder:{}", p.display()),
            DataSource::Npz(p) => write!(f, "npz:{}", p.display()),
        }
    }
}

impl FromStr for DataSource {
    type Err = WrnError;

    fn from_str(text: &str) -> Result<Self> {
        let path = |p: &str| -> Result<PathBuf> {
            if p.is_empty() {
                return Err(WrnError::UnknownDataset(text.to_owned()));
            }
            Ok(PathBuf::from(p))
        };
        Ok(match text {
            "cifar10" => DataSource::Cifar10,
            "cifar100" => DataSource::Cifar100,
            "mnist" => DataSource::Mnist,
            "fashion-mnist" => DataSource::FashionMnist,
            _ => match text.split_once(':') {
                Some(("folder", p)) => DataSource::Folder(path(p)?),
                Some(("npz", p)) => DataSource::Npz(path(p)?),
                _ => return Err(WrnError::UnknownDataset(text.to_owned())),
            },
        })
    }
}

impl DataSource {
    /// The CIFAR data set, if this is one.
    pub fn cifar(&self) -> Option<Cifar> {
        match self {
            DataSource::Cifar10 => Some(Cifar::Cifar10),
            DataSource::Cifar100 => Some(Cifar::Cifar100),
            _ => None,
        }
    }

    /// The IDX data set, if this is one.
    pub fn idx(&self) -> Option<IdxSet> {
        match self {
            DataSource::Mnist => Some(IdxSet::Mnist),
            DataSource::FashionMnist => Some(IdxSet::FashionMnist),
            _ => None,
        }
    }

    /// The user's own files, if this is a folder or an archive.
    pub fn path(&self) -> Option<&Path> {
        match self {
            DataSource::Folder(p) | DataSource::Npz(p) => Some(p),
            _ => None,
        }
    }

    /// This source with its path made absolute (from the working directory), so that a
    /// worker started elsewhere finds the same files.
    pub fn absolute(&self) -> Result<DataSource> {
        let make = |p: &Path| std::path::absolute(p).map_err(WrnError::io(p));
        Ok(match self {
            DataSource::Folder(p) => DataSource::Folder(make(p)?),
            DataSource::Npz(p) => DataSource::Npz(make(p)?),
            other => other.clone(),
        })
    }

    /// Validation samples per class when none are asked for: the paper's 500 (CIFAR-10)
    /// and 50 (CIFAR-100), 500 for MNIST and Fashion-MNIST (about a twelfth of each class);
    /// `None` for the user's own data, where it depends on the class sizes
    /// ([`default_val_per_class`]).
    pub fn fixed_val_per_class(&self) -> Option<usize> {
        match self {
            DataSource::Cifar10 | DataSource::Cifar100 => {
                self.cifar().map(Cifar::paper_val_per_class)
            }
            DataSource::Mnist | DataSource::FashionMnist => Some(500),
            DataSource::Folder(_) | DataSource::Npz(_) => None,
        }
    }

    /// The preprocessing when none is asked for: the paper's centring and ZCA whitening for
    /// CIFAR, per-channel normalisation for every other data set.
    pub fn default_preprocess(&self) -> PreprocessConfig {
        match self {
            DataSource::Cifar10 | DataSource::Cifar100 => PreprocessConfig::default(),
            _ => PreprocessConfig::normalize(),
        }
    }

    /// Refuses a source that is not there, saying how to get it.
    pub fn check_present(&self, data_dir: &Path) -> Result<()> {
        let missing = |missing: PathBuf| WrnError::MissingData {
            dataset: self.to_string(),
            data_dir: data_dir.to_owned(),
            missing,
        };
        match self {
            DataSource::Cifar10 | DataSource::Cifar100 => {
                let kind = self.cifar().expect("a CIFAR source");
                if !files::is_present(kind, data_dir) {
                    return Err(missing(files::dataset_dir(kind, data_dir)));
                }
            }
            DataSource::Mnist | DataSource::FashionMnist => {
                let set = self.idx().expect("an IDX source");
                if !set.is_present(data_dir) {
                    return Err(missing(set.dir(data_dir)));
                }
            }
            DataSource::Folder(p) if !p.is_dir() => {
                return Err(actfn_data::DataError::bad(p, "no such folder").into())
            }
            DataSource::Npz(p) if !p.is_file() => {
                return Err(actfn_data::DataError::bad(p, "no such file").into())
            }
            DataSource::Folder(_) | DataSource::Npz(_) => {}
        }
        Ok(())
    }

    /// Reads the training and test samples. CIFAR and IDX files come from `data_dir`
    /// (`allow_partial`: accept CIFAR files with other record counts); a folder is decoded
    /// once into `cache_dir` and read back from there after ([`actfn_data::read_folder`]),
    /// its images resized to `image_size` when given, which other sources refuse.
    pub fn load(
        &self,
        data_dir: &Path,
        allow_partial: bool,
        image_size: Option<ImageSize>,
        cache_dir: &Path,
    ) -> Result<Loaded> {
        if image_size.is_some() && !matches!(self, DataSource::Folder(_)) {
            return Err(WrnError::InvalidConfig(format!(
                "--image-size resizes the images of an image folder; {self} has one size"
            )));
        }
        self.check_present(data_dir)?;
        Ok(match self {
            DataSource::Cifar10 | DataSource::Cifar100 => files::load(
                self.cifar().expect("a CIFAR source"),
                data_dir,
                allow_partial,
            )?,
            DataSource::Mnist | DataSource::FashionMnist => {
                self.idx().expect("an IDX source").load(data_dir)?
            }
            DataSource::Folder(root) => actfn_data::read_folder(root, image_size, cache_dir)?,
            DataSource::Npz(path) => actfn_data::npz::read(path)?,
        })
    }
}

/// Validation samples per class for data without a fixed choice: a tenth of the smallest
/// class's training samples, at least 1 (so a class of 1 sample is refused by the split,
/// which names it).
pub fn default_val_per_class(train_class_counts: &[usize]) -> usize {
    (train_class_counts.iter().copied().min().unwrap_or(0) / 10).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_cifar_keeps_its_stored_text() {
        for text in [
            "cifar10",
            "cifar100",
            "mnist",
            "fashion-mnist",
            "folder:a/b",
            "npz:x.npz",
        ] {
            let s: DataSource = text.parse().unwrap();
            assert_eq!(s.to_string(), text);
        }
        for bad in ["cifar", "folder:", "npz", "imagenet:x"] {
            let err = bad.parse::<DataSource>().unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
        assert_eq!(ron::to_string(&DataSource::Cifar10).unwrap(), "cifar10");
        assert_eq!(
            ron::to_string(&DataSource::FashionMnist).unwrap(),
            "fashion_mnist"
        );
        let folder = DataSource::Folder("d".into());
        let text = ron::to_string(&folder).unwrap();
        assert_eq!(text, "folder(\"d\")");
        assert_eq!(ron::from_str::<DataSource>(&text).unwrap(), folder);
    }

    #[test]
    fn default_validation_is_a_tenth_of_the_smallest_class() {
        assert_eq!(default_val_per_class(&[100, 57, 300]), 5);
        assert_eq!(default_val_per_class(&[3, 9]), 1);
    }
}
