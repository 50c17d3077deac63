//! The whole data pipeline: load, split, fit the preprocessing on the training split
//! (cached on disk) and apply it, giving the tensors a run trains on ([`TrainData`]).
//!
//! [`prepare_with_test_size`] serves a training run (with a test set), and
//! [`prepare_search_data`] a search (no test set, and a fingerprint of the data for the
//! search's configuration hash); both go through the same steps.

use std::path::{Path, PathBuf};

use actfn_data::{ImageSize, Loaded};
use actfn_evo::stable_hash;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::cifar::Cifar;
use super::dataset::{labels_tensor, Dataset};
use super::source::DataSource;
use super::split::{split, Split, SplitConfig};
use crate::error::{Result, WrnError};
use crate::zca::{cache_dir_for, PreprocessConfig, Whitening};

/// Everything that decides the data a model sees: data set, split and preprocessing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataConfig {
    /// Which data set.
    pub dataset: DataSource,
    /// The train/validation split.
    pub split: SplitConfig,
    /// Centring and whitening, fitted on the training split.
    pub preprocess: PreprocessConfig,
    /// Data files with fewer (or more) records than the official release were accepted.
    /// Left out when false, so that configurations written before it existed keep their
    /// text and hash.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_partial: bool,
    /// The size an image folder's images are resized to; left out when none, as in
    /// configurations written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<ImageSize>,
}

impl DataConfig {
    /// The paper's data settings for `kind`.
    pub fn paper(kind: Cifar) -> Self {
        DataConfig {
            dataset: kind.into(),
            split: SplitConfig::paper(kind),
            preprocess: PreprocessConfig::default(),
            allow_partial: false,
            image_size: None,
        }
    }

    /// Reads the data set's training and test samples ([`DataSource::load`]), decoded
    /// images cached under `data_dir` ([`decoded_cache_dir`]).
    pub fn load(&self, data_dir: &Path) -> Result<Loaded> {
        self.dataset.load(
            data_dir,
            self.allow_partial,
            self.image_size,
            &decoded_cache_dir(data_dir),
        )
    }
}

/// Where decoded image folders are cached for data in `data_dir`: `$ACTFN_CACHE/decoded`
/// when `ACTFN_CACHE` is set, else `<data_dir>/cache` (beside the whitening fits).
pub fn decoded_cache_dir(data_dir: &Path) -> PathBuf {
    match std::env::var_os("ACTFN_CACHE").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("decoded"),
        None => data_dir.join("cache"),
    }
}

/// Preprocessed training, validation and (optionally) test tensors on the CPU: images f32
/// `[N, C, H, W]` (or vectors `[N, D]`), labels i64 `[N]`. What the trainer trains on.
#[derive(Debug)]
pub struct TrainData {
    /// Training images, f32 `[N, C, H, W]`, or vectors `[N, D]`.
    pub train_images: Tensor,
    /// Training labels, i64 `[N]`.
    pub train_labels: Tensor,
    /// Validation images.
    pub val_images: Tensor,
    /// Validation labels.
    pub val_labels: Tensor,
    /// Test images and labels, evaluated once at the end.
    pub test: Option<(Tensor, Tensor)>,
    /// Number of classes.
    pub num_classes: i64,
}

impl TrainData {
    /// Checks the kinds and shapes of the tensors (every split's samples shaped as the
    /// training samples), and that training and validation sets are not empty.
    pub fn check(&self) -> Result<()> {
        let sample = self.train_images.size()[1..].to_vec();
        let check = |name: &str, x: &Tensor, y: &Tensor| -> Result<()> {
            let xs = x.size();
            if !matches!(xs.len(), 2 | 4) || xs[1..] != sample[..] || x.kind() != Kind::Float {
                return Err(WrnError::Shape(format!(
                    "{name} images are {:?} {:?}, expected f32 [N, C, H, W] or [N, D], samples as in training {sample:?}",
                    x.kind(),
                    xs
                )));
            }
            if y.size() != [xs[0]] || y.kind() != Kind::Int64 {
                return Err(WrnError::Shape(format!(
                    "{name} labels are {:?} {:?}, expected i64 [{}]",
                    y.kind(),
                    y.size(),
                    xs[0]
                )));
            }
            Ok(())
        };
        check("training", &self.train_images, &self.train_labels)?;
        check("validation", &self.val_images, &self.val_labels)?;
        if let Some((x, y)) = &self.test {
            check("test", x, y)?;
        }
        if self.train_images.size()[0] == 0 || self.val_images.size()[0] == 0 {
            return Err(WrnError::Shape(
                "empty training or validation set".to_string(),
            ));
        }
        Ok(())
    }
}

/// The tensors of a training run and the class names of its data set.
#[derive(Debug)]
pub struct Prepared {
    /// Preprocessed training, validation and test splits.
    pub data: TrainData,
    /// Class names from the data set's names file, or the class numbers.
    pub class_names: Vec<String>,
}

impl From<Prepared> for TrainData {
    fn from(p: Prepared) -> Self {
        p.data
    }
}

/// The training and validation tensors of a search, and a fingerprint of the data they
/// were cut from.
#[derive(Debug)]
pub struct SearchData {
    /// Preprocessed training and validation splits (no test set).
    pub data: TrainData,
    /// A stable hash of the official training set's images and labels.
    pub fingerprint: u64,
}

/// Loads `config.dataset` from `data_dir`, splits it, fits the preprocessing on the training
/// split (cached in `data_dir/cache/`) and applies it to all three splits.
pub fn prepare(data_dir: &Path, config: &DataConfig) -> Result<Prepared> {
    prepare_with_test_size(data_dir, config, None)
}

/// [`prepare`], keeping only the first `test_size` records of the official test set
/// (`None`: all of them; `Some(0)`: none).
///
/// Applying the 3072 x 3072 whitening to all 10,000 test images costs seconds on a CPU;
/// small runs that report accuracy on a test subset should not pay for the rest. The
/// official test files are in no class order, so their first records are a fair sample.
pub fn prepare_with_test_size(
    data_dir: &Path,
    config: &DataConfig,
    test_size: Option<usize>,
) -> Result<Prepared> {
    let loaded = config.load(data_dir)?;
    let class_names = loaded.class_names.clone();
    let data = preprocess(loaded, data_dir, config, test_size)?;
    Ok(Prepared { data, class_names })
}

/// The data of a search: [`prepare_with_test_size`] without a test set (a search never
/// sees it), and the fingerprint of the official training set.
pub fn prepare_search_data(data_dir: &Path, config: &DataConfig) -> Result<SearchData> {
    let loaded = config.load(data_dir)?;
    let fingerprint = data_fingerprint(&loaded.train);
    let data = preprocess(loaded, data_dir, config, Some(0))?;
    Ok(SearchData { data, fingerprint })
}

/// Splits `loaded`, fits the preprocessing on the training split and applies it; an empty
/// test set (`test_size` 0) is left out.
fn preprocess(
    loaded: Loaded,
    data_dir: &Path,
    config: &DataConfig,
    test_size: Option<usize>,
) -> Result<TrainData> {
    let Loaded {
        train: full,
        test: all_test,
        ..
    } = loaded;
    let num_classes = full.num_classes as i64;
    let Split { train, val } = split(&full, &config.split)?;
    drop(full);
    let test = match test_size {
        Some(n) if n > all_test.len() => {
            return Err(WrnError::Split(format!(
                "test size {n} is more than the {} test images of {}",
                all_test.len(),
                config.dataset
            )))
        }
        Some(n) if n < all_test.len() => all_test.subset(&(0..n).collect::<Vec<_>>()),
        _ => all_test,
    };
    let whitening = Whitening::fit_cached(&train, &config.preprocess, &cache_dir_for(data_dir))?;
    let test = if test.is_empty() {
        None
    } else {
        Some((whitening.apply(&test)?, labels_tensor(&test)))
    };
    Ok(TrainData {
        train_images: whitening.apply(&train)?,
        train_labels: labels_tensor(&train),
        val_images: whitening.apply(&val)?,
        val_labels: labels_tensor(&val),
        test,
        num_classes,
    })
}

/// A stable hash of a data set's labels and values ([`Dataset::value_bytes`],
/// [`Dataset::label_bytes`]: for CIFAR, the bytes of its files).
fn data_fingerprint(set: &Dataset) -> u64 {
    let images = stable_hash(&set.value_bytes());
    let labels = stable_hash(&set.label_bytes());
    let mut both = Vec::with_capacity(24);
    both.extend_from_slice(&images.to_le_bytes());
    both.extend_from_slice(&labels.to_le_bytes());
    both.extend_from_slice(&(set.num_classes as u64).to_le_bytes());
    stable_hash(&both)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic;

    #[test]
    fn a_run_gets_its_test_subset_and_a_search_none() {
        let tmp = tempfile::tempdir().unwrap();
        synthetic::write_dir(Cifar::Cifar10, 4, tmp.path());
        let config = DataConfig {
            split: SplitConfig {
                val_per_class: 1,
                train_size: None,
                seed: 0,
            },
            preprocess: PreprocessConfig {
                zca: false,
                ..PreprocessConfig::default()
            },
            allow_partial: true,
            ..DataConfig::paper(Cifar::Cifar10)
        };
        let run = prepare_with_test_size(tmp.path(), &config, Some(7)).unwrap();
        assert_eq!(run.class_names.len(), 10);
        let run = TrainData::from(run);
        run.check().unwrap();
        assert_eq!(run.train_images.size(), [190, 3, 32, 32]);
        assert_eq!(run.test.as_ref().unwrap().1.size(), [7]);
        let none = prepare_with_test_size(tmp.path(), &config, Some(0)).unwrap();
        assert!(none.data.test.is_none());
        let err = prepare_with_test_size(tmp.path(), &config, Some(41)).unwrap_err();
        assert!(err.to_string().contains("test size 41"), "{err}");

        let search = prepare_search_data(tmp.path(), &config).unwrap();
        assert!(search.data.test.is_none());
        assert_eq!(search.data.train_images.size(), run.train_images.size());
        assert!(search.data.train_images.equal(&run.train_images));
    }

    /// The whole pipeline on the development copy of CIFAR-10: 45K/5K/10K, ZCA fitted once.
    /// Slow (a 3072x3072 covariance and eigendecomposition): `cargo test -- --ignored`.
    #[test]
    #[ignore = "slow: fits ZCA on 45,000 real images"]
    fn prepare_real_cifar10() {
        let tarball = crate::fetch::development_tarballs().join("cifar-10-binary.tar.gz");
        if !tarball.is_file() {
            eprintln!("skipped: {} is absent", tarball.display());
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        crate::fetch::fetch(
            Cifar::Cifar10,
            Some(tarball.to_str().unwrap()),
            tmp.path(),
            false,
        )
        .unwrap();
        let config = DataConfig::paper(Cifar::Cifar10);
        let start = std::time::Instant::now();
        let p = prepare(tmp.path(), &config).unwrap().data;
        let first = start.elapsed();
        assert_eq!(p.train_images.size(), vec![45_000, 3, 32, 32]);
        assert_eq!(p.val_images.size(), vec![5_000, 3, 32, 32]);
        assert_eq!(p.test.unwrap().0.size(), vec![10_000, 3, 32, 32]);
        assert_eq!(
            p.val_labels.bincount(None::<Tensor>, 10).int64_value(&[3]),
            500
        );
        let flat = p.train_images.view([45_000, 3072]).to_kind(Kind::Double);
        let mean = flat
            .mean_dim(0, false, Kind::Double)
            .abs()
            .max()
            .double_value(&[]);
        assert!(mean < 1e-3, "{mean}");
        // Whitened features have unit variance, up to what epsilon takes away.
        let var = flat.var_dim(0, false, false);
        let (lo, hi) = (var.min().double_value(&[]), var.max().double_value(&[]));
        assert!(lo > 0.5 && hi < 1.01, "{lo} {hi}");
        let start = std::time::Instant::now();
        prepare(tmp.path(), &config).unwrap();
        eprintln!(
            "prepare: {first:?} first, {:?} with the cached fit",
            start.elapsed()
        );
    }
}
