//! The balanced validation split of the official training set, and the optional balanced
//! subsample of what remains for training.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::cifar::Cifar;
use super::dataset::Dataset;
use crate::error::{Result, WrnError};

/// How the official training set is split into training and validation sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// Validation images per class (paper: 500 for CIFAR-10, 50 for CIFAR-100).
    pub val_per_class: usize,
    /// Keep only this many training images, as balanced over classes as the data allows.
    pub train_size: Option<usize>,
    /// Seed of the split; the same seed gives the same split.
    pub seed: u64,
}

impl SplitConfig {
    /// The paper's split for `kind` (45K/5K), seed 0.
    pub fn paper(kind: Cifar) -> Self {
        SplitConfig {
            val_per_class: kind.paper_val_per_class(),
            train_size: None,
            seed: 0,
        }
    }
}

/// Training and validation sets cut from the official training set.
#[derive(Debug, Clone)]
pub struct Split {
    /// What remains for training (optionally subsampled).
    pub train: Dataset,
    /// `val_per_class` images of every class.
    pub val: Dataset,
}

/// The positions in the official training set of a split's two parts, each ascending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitIndices {
    /// Positions of the training images.
    pub train: Vec<usize>,
    /// Positions of the validation images.
    pub val: Vec<usize>,
}

/// Splits `full` (the official training set) by `config`: a seeded, balanced validation set,
/// then an optional balanced subsample of the rest. Both keep the original record order.
pub fn split(full: &Dataset, config: &SplitConfig) -> Result<Split> {
    let SplitIndices { train, val } = split_indices(full, config)?;
    Ok(Split {
        train: full.subset(&train),
        val: full.subset(&val),
    })
}

/// Where [`split`] takes its images from: the same split, as positions in `full`, so that
/// another program can cut exactly the same images.
pub fn split_indices(full: &Dataset, config: &SplitConfig) -> Result<SplitIndices> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); full.num_classes];
    for (i, &l) in full.labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    let mut val = Vec::with_capacity(config.val_per_class * full.num_classes);
    for (class, indices) in by_class.iter_mut().enumerate() {
        if indices.len() < config.val_per_class {
            return Err(WrnError::Split(format!(
                "class {class} has {} training images, fewer than the {} asked for validation",
                indices.len(),
                config.val_per_class
            )));
        }
        indices.shuffle(&mut rng);
        val.extend(indices.drain(..config.val_per_class));
    }
    let available: usize = by_class.iter().map(Vec::len).sum();
    let mut train = match config.train_size {
        None => by_class.concat(),
        Some(size) if size > available => {
            return Err(WrnError::Split(format!(
                "train size {size} is more than the {available} images left after validation"
            )))
        }
        Some(size) => {
            // Round-robin over the classes (each already shuffled): as balanced as possible.
            let mut taken = Vec::with_capacity(size);
            let mut round = 0;
            while taken.len() < size {
                for indices in &by_class {
                    if taken.len() < size && round < indices.len() {
                        taken.push(indices[round]);
                    }
                }
                round += 1;
            }
            taken
        }
    };
    train.sort_unstable();
    val.sort_unstable();
    Ok(SplitIndices { train, val })
}
#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::data::files::parse_records;
    use crate::data::{synthetic, Values, IMAGE_BYTES};

    #[test]
    fn split_is_balanced_seeded_and_disjoint() {
        let bytes = synthetic::records(Cifar::Cifar10, 20, 0);
        let full = parse_records(&bytes, Cifar::Cifar10, Path::new("x")).unwrap();
        // Make every image unique so that membership can be checked by content.
        let mut full = full;
        let n = full.len();
        let Values::U8(images) = &mut full.values else {
            panic!()
        };
        for i in 0..n {
            images[i * IMAGE_BYTES] = i as u8;
        }
        let config = SplitConfig {
            val_per_class: 5,
            train_size: None,
            seed: 3,
        };
        let s = split(&full, &config).unwrap();
        assert_eq!(s.val.class_counts(), vec![5; 10]);
        assert_eq!(s.train.class_counts(), vec![15; 10]);
        let key = |d: &Dataset, i: usize| match &d.values {
            Values::U8(v) => v[i * IMAGE_BYTES],
            Values::F32(_) => panic!(),
        };
        let val: std::collections::HashSet<u8> = (0..s.val.len()).map(|i| key(&s.val, i)).collect();
        assert!((0..s.train.len()).all(|i| !val.contains(&key(&s.train, i))));
        let again = split(&full, &config).unwrap();
        assert_eq!(again.val, s.val);
        let other = split(
            &full,
            &SplitConfig {
                seed: 4,
                ..config.clone()
            },
        )
        .unwrap();
        assert_ne!(other.val, s.val);

        let sub = split(
            &full,
            &SplitConfig {
                train_size: Some(43),
                ..config.clone()
            },
        )
        .unwrap();
        assert_eq!(sub.train.len(), 43);
        let counts = sub.train.class_counts();
        assert!(counts.iter().all(|&c| c == 4 || c == 5), "{counts:?}");
        assert_eq!(sub.val, s.val);

        let err = split(
            &full,
            &SplitConfig {
                val_per_class: 21,
                ..config.clone()
            },
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("class 0 has 20 training images"),
            "{err}"
        );
        let err = split(
            &full,
            &SplitConfig {
                train_size: Some(151),
                ..config
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("train size 151"), "{err}");
    }
}
