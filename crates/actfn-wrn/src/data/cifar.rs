//! [`Cifar`]: the two data sets, their files, record layout and the paper's split sizes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::dataset::IMAGE_BYTES;
use crate::error::{Result, WrnError};

/// The two data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cifar {
    /// CIFAR-10: 10 classes, records of 1 label byte + 3072 pixel bytes.
    Cifar10,
    /// CIFAR-100: 100 fine classes, records of coarse + fine label bytes + 3072 pixel bytes.
    Cifar100,
}

impl Cifar {
    /// The short name used on the command line: `cifar10` or `cifar100`.
    pub fn name(self) -> &'static str {
        match self {
            Cifar::Cifar10 => "cifar10",
            Cifar::Cifar100 => "cifar100",
        }
    }

    /// Number of classes (fine classes for CIFAR-100).
    pub fn num_classes(self) -> usize {
        match self {
            Cifar::Cifar10 => 10,
            Cifar::Cifar100 => 100,
        }
    }

    /// The folder the official tarball unpacks to.
    pub fn folder(self) -> &'static str {
        match self {
            Cifar::Cifar10 => "cifar-10-batches-bin",
            Cifar::Cifar100 => "cifar-100-binary",
        }
    }

    /// Training files inside [`Cifar::folder`], in order.
    pub fn train_files(self) -> &'static [&'static str] {
        match self {
            Cifar::Cifar10 => &[
                "data_batch_1.bin",
                "data_batch_2.bin",
                "data_batch_3.bin",
                "data_batch_4.bin",
                "data_batch_5.bin",
            ],
            Cifar::Cifar100 => &["train.bin"],
        }
    }

    /// Test files inside [`Cifar::folder`].
    pub fn test_files(self) -> &'static [&'static str] {
        match self {
            Cifar::Cifar10 => &["test_batch.bin"],
            Cifar::Cifar100 => &["test.bin"],
        }
    }

    /// The number of records in `file` of the official release: 10,000 in every CIFAR-10
    /// file, 50,000 in CIFAR-100's `train.bin` and 10,000 in its `test.bin`.
    pub fn official_records(self, file: &str) -> usize {
        match (self, file) {
            (Cifar::Cifar100, "train.bin") => 50_000,
            _ => 10_000,
        }
    }

    /// The class-name file inside [`Cifar::folder`] (one name a line, empty lines skipped).
    pub fn names_file(self) -> &'static str {
        match self {
            Cifar::Cifar10 => "batches.meta.txt",
            Cifar::Cifar100 => "fine_label_names.txt",
        }
    }

    /// Bytes of one record: the label bytes and the pixels.
    pub fn record_len(self) -> usize {
        self.label_bytes() + IMAGE_BYTES
    }

    /// Label bytes at the start of a record: 1, or CIFAR-100's coarse and fine labels.
    pub(crate) fn label_bytes(self) -> usize {
        match self {
            Cifar::Cifar10 => 1,
            Cifar::Cifar100 => 2,
        }
    }

    /// The paper's validation images per class: 500 for CIFAR-10, 50 for CIFAR-100.
    pub fn paper_val_per_class(self) -> usize {
        match self {
            Cifar::Cifar10 => 500,
            Cifar::Cifar100 => 50,
        }
    }
}

impl fmt::Display for Cifar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Cifar {
    type Err = WrnError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cifar10" | "cifar-10" => Ok(Cifar::Cifar10),
            "cifar100" | "cifar-100" => Ok(Cifar::Cifar100),
            _ => Err(WrnError::UnknownCifar(s.to_owned())),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!("CIFAR-10".parse::<Cifar>().unwrap(), Cifar::Cifar10);
        assert_eq!("cifar100".parse::<Cifar>().unwrap(), Cifar::Cifar100);
        let err = "mnist".parse::<Cifar>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown data set \"mnist\"; expected cifar10 or cifar100"
        );
    }
}
