//! CIFAR-10/100 binary loaders, the balanced validation split, and the whole data pipeline.
//!
//! Images stay as bytes (`N x 3072`, channel-major 3x32x32 as in the files) until
//! [`prepare`] turns the three splits into preprocessed f32 tensors: 50,000 images are
//! 150 MB as bytes, 600 MB as f32.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::error::{Result, WrnError};
use crate::zca::{PreprocessConfig, Whitening};

/// Channels, height and width of a CIFAR image.
pub const IMAGE_SHAPE: [i64; 3] = [3, 32, 32];
/// Bytes (= features) of one image: 3 x 32 x 32.
pub const IMAGE_BYTES: usize = 3072;

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

    fn label_bytes(self) -> usize {
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
            _ => Err(WrnError::UnknownDataset(s.to_owned())),
        }
    }
}

/// Labelled images as bytes: image `i` is `images[i * 3072..(i + 1) * 3072]`, 3x32x32.
#[derive(Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Pixel bytes, `len() * IMAGE_BYTES` of them, channel-major as in the CIFAR files.
    pub images: Vec<u8>,
    /// One label a record, in `0..num_classes` (the fine label for CIFAR-100).
    pub labels: Vec<u8>,
    /// Number of classes.
    pub num_classes: usize,
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("len", &self.len())
            .field("num_classes", &self.num_classes)
            .finish()
    }
}

impl Dataset {
    /// An empty data set of `num_classes` classes.
    pub fn empty(num_classes: usize) -> Self {
        Dataset {
            images: Vec::new(),
            labels: Vec::new(),
            num_classes,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES]
    }

    /// The images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let mut images = Vec::with_capacity(indices.len() * IMAGE_BYTES);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Dataset {
            images,
            labels,
            num_classes: self.num_classes,
        }
    }

    /// Appends the images of `other`.
    pub fn extend(&mut self, other: &Dataset) {
        self.images.extend_from_slice(&other.images);
        self.labels.extend_from_slice(&other.labels);
    }

    /// Images per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// The images as a u8 tensor `[N, 3, 32, 32]`.
    pub fn images_tensor(&self) -> Tensor {
        Tensor::from_slice(&self.images).view([self.len() as i64, 3, 32, 32])
    }

    /// The labels as an i64 tensor `[N]`.
    pub fn labels_tensor(&self) -> Tensor {
        Tensor::from_slice(&self.labels).to_kind(Kind::Int64)
    }
}

/// Reduced releases taken as complete: (data set, file, records, SHA-256 of the file).
/// The CIFAR-100 subset of the first 15,000 official training records, which the workplace
/// copy ships for lack of room.
const KNOWN_SUBSETS: [(Cifar, &str, usize, &str); 1] = [(
    Cifar::Cifar100,
    "train.bin",
    15_000,
    "f46993466683446899780c8791f4dd5728bf0b6227f384505aefcd20153eaa6c",
)];

/// Reads one CIFAR binary file of `kind`, checking its size and every label.
pub fn read_file(path: &Path, kind: Cifar) -> Result<Dataset> {
    let bytes = std::fs::read(path).map_err(WrnError::io(path))?;
    parse_records(&bytes, kind, path)
}

/// [`read_file`], and the file must hold the official number of records (or be a known
/// reduced release): an empty or truncated batch would otherwise train on less data without
/// a word. With `allow_partial`, another count is accepted with a note on stderr.
pub fn read_complete_file(path: &Path, kind: Cifar, allow_partial: bool) -> Result<Dataset> {
    let bytes = std::fs::read(path).map_err(WrnError::io(path))?;
    let data = parse_records(&bytes, kind, path)?;
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let expected = kind.official_records(file);
    let found = data.len();
    if found != expected {
        let known = KNOWN_SUBSETS.iter().any(|&(k, f, n, sha)| {
            k == kind && f == file && n == found && {
                let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&bytes).into();
                digest
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
                    == sha
            }
        });
        if !known {
            if !allow_partial {
                return Err(WrnError::PartialData {
                    path: path.to_owned(),
                    found,
                    expected,
                });
            }
            eprintln!(
                "actfn: note: {}: {found} records, not the official {expected} (--allow-partial)",
                path.display()
            );
        }
    }
    Ok(data)
}

fn parse_records(bytes: &[u8], kind: Cifar, path: &Path) -> Result<Dataset> {
    let record_len = kind.record_len();
    if bytes.len() % record_len != 0 {
        return Err(WrnError::BadFileSize {
            path: path.to_owned(),
            size: bytes.len() as u64,
            record_len,
        });
    }
    let n = bytes.len() / record_len;
    let mut data = Dataset {
        images: Vec::with_capacity(n * IMAGE_BYTES),
        labels: Vec::with_capacity(n),
        num_classes: kind.num_classes(),
    };
    for (index, record) in bytes.chunks_exact(record_len).enumerate() {
        let bad = |which, label, classes| WrnError::BadLabel {
            path: path.to_owned(),
            index,
            which,
            label,
            classes,
        };
        let label = match kind {
            Cifar::Cifar10 => record[0],
            Cifar::Cifar100 => {
                if record[0] >= 20 {
                    return Err(bad("coarse", record[0], 20));
                }
                record[1]
            }
        };
        if label as usize >= kind.num_classes() {
            let which = if kind == Cifar::Cifar10 {
                "class"
            } else {
                "fine"
            };
            return Err(bad(which, label, kind.num_classes()));
        }
        data.labels.push(label);
        data.images.extend_from_slice(&record[kind.label_bytes()..]);
    }
    Ok(data)
}

/// A data set as read from its folder: the official training and test sets.
#[derive(Debug, Clone)]
pub struct CifarData {
    /// Which data set.
    pub kind: Cifar,
    /// All training images (50,000 in the official release).
    pub train: Dataset,
    /// The test images (10,000), never used for search or preprocessing fits.
    pub test: Dataset,
    /// Class names from the names file, or the class numbers when it is missing.
    pub class_names: Vec<String>,
}

/// The folder of `kind` inside `data_dir`.
pub fn dataset_dir(kind: Cifar, data_dir: &Path) -> PathBuf {
    data_dir.join(kind.folder())
}

/// Whether every data file of `kind` is in `data_dir` with a plausible size.
pub fn is_present(kind: Cifar, data_dir: &Path) -> bool {
    let dir = dataset_dir(kind, data_dir);
    kind.train_files().iter().chain(kind.test_files()).all(|f| {
        match std::fs::metadata(dir.join(f)) {
            Ok(m) => m.is_file() && m.len() > 0 && m.len() % kind.record_len() as u64 == 0,
            Err(_) => false,
        }
    })
}

/// Reads the training and test sets of `kind` from `data_dir/<folder>/`; every file must
/// be complete unless `allow_partial` ([`read_complete_file`]).
pub fn load(kind: Cifar, data_dir: &Path, allow_partial: bool) -> Result<CifarData> {
    let dir = dataset_dir(kind, data_dir);
    let read_all = |files: &[&str]| -> Result<Dataset> {
        let mut all = Dataset::empty(kind.num_classes());
        for f in files {
            let path = dir.join(f);
            if !path.is_file() {
                return Err(WrnError::MissingData {
                    dataset: kind.name().to_owned(),
                    data_dir: data_dir.to_owned(),
                    missing: path,
                });
            }
            all.extend(&read_complete_file(&path, kind, allow_partial)?);
        }
        Ok(all)
    };
    let train = read_all(kind.train_files())?;
    let test = read_all(kind.test_files())?;
    let class_names = read_class_names(&dir.join(kind.names_file()), kind.num_classes())?;
    Ok(CifarData {
        kind,
        train,
        test,
        class_names,
    })
}

/// One name a line, empty lines skipped; the class numbers when the file is missing.
fn read_class_names(path: &Path, num_classes: usize) -> Result<Vec<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((0..num_classes).map(|c| c.to_string()).collect())
        }
        Err(e) => return Err(WrnError::io(path)(e)),
    };
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if names.len() != num_classes {
        return Err(WrnError::BadClassNames {
            path: path.to_owned(),
            found: names.len(),
            expected: num_classes,
        });
    }
    Ok(names)
}

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

/// Everything that decides the data a model sees: data set, split and preprocessing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataConfig {
    /// Which data set.
    pub dataset: Cifar,
    /// The train/validation split.
    pub split: SplitConfig,
    /// Centring and whitening, fitted on the training split.
    pub preprocess: PreprocessConfig,
    /// Data files with fewer (or more) records than the official release were accepted.
    /// Left out when false, so that configurations written before it existed keep their
    /// text and hash.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_partial: bool,
}

impl DataConfig {
    /// The paper's data settings for `kind`.
    pub fn paper(kind: Cifar) -> Self {
        DataConfig {
            dataset: kind,
            split: SplitConfig::paper(kind),
            preprocess: PreprocessConfig::default(),
            allow_partial: false,
        }
    }
}

/// Preprocessed splits as tensors on the CPU: images f32 `[N, 3, 32, 32]`, labels i64 `[N]`.
#[derive(Debug)]
pub struct Prepared {
    /// Training images.
    pub train_images: Tensor,
    /// Training labels.
    pub train_labels: Tensor,
    /// Validation images.
    pub val_images: Tensor,
    /// Validation labels.
    pub val_labels: Tensor,
    /// Test images.
    pub test_images: Tensor,
    /// Test labels.
    pub test_labels: Tensor,
    /// Number of classes.
    pub num_classes: usize,
    /// Class names.
    pub class_names: Vec<String>,
}

/// Loads `config.dataset` from `data_dir`, splits it, fits the preprocessing on the training
/// split (cached in `data_dir/cache/`) and applies it to all three splits.
pub fn prepare(data_dir: &Path, config: &DataConfig) -> Result<Prepared> {
    prepare_with_test_size(data_dir, config, None)
}

/// [`prepare`], keeping only the first `test_size` records of the official test set
/// (`None`: all of them; `Some(0)`: none, as a search needs no test set).
///
/// Applying the 3072 x 3072 whitening to all 10,000 test images costs seconds on a CPU;
/// small runs that report accuracy on a test subset should not pay for the rest. The
/// official test files are in no class order, so their first records are a fair sample.
pub fn prepare_with_test_size(
    data_dir: &Path,
    config: &DataConfig,
    test_size: Option<usize>,
) -> Result<Prepared> {
    let data = load(config.dataset, data_dir, config.allow_partial)?;
    let Split { train, val } = split(&data.train, &config.split)?;
    drop(data.train);
    let test = match test_size {
        Some(n) if n > data.test.len() => {
            return Err(WrnError::Split(format!(
                "test size {n} is more than the {} test images of {}",
                data.test.len(),
                config.dataset
            )))
        }
        Some(n) if n < data.test.len() => data.test.subset(&(0..n).collect::<Vec<_>>()),
        _ => data.test,
    };
    let whitening = Whitening::fit_cached(
        &train,
        &config.preprocess,
        &crate::zca::cache_dir_for(data_dir),
    )?;
    Ok(Prepared {
        train_images: whitening.apply(&train)?,
        train_labels: train.labels_tensor(),
        val_images: whitening.apply(&val)?,
        val_labels: val.labels_tensor(),
        test_images: whitening.apply(&test)?,
        test_labels: test.labels_tensor(),
        num_classes: config.dataset.num_classes(),
        class_names: data.class_names,
    })
}

/// Small synthetic data sets and tarballs in the official layout, for tests.
#[cfg(test)]
pub(crate) mod synthetic {
    use super::*;

    /// `per_class` records of every class; pixel bytes depend on the class and index.
    pub fn records(kind: Cifar, per_class: usize, seed: u8) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..per_class * kind.num_classes() {
            let label = (i % kind.num_classes()) as u8;
            if kind == Cifar::Cifar100 {
                out.push(label / 5);
            }
            out.push(label);
            out.extend((0..IMAGE_BYTES).map(|p| (p as u8) ^ (i as u8).wrapping_mul(31) ^ seed));
        }
        out
    }

    /// A `.tar.gz` in the official layout with `per_class` records per class in every file.
    pub fn tarball(kind: Cifar, per_class: usize) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        let mut add = |name: String, data: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, data).unwrap();
        };
        for (k, f) in kind
            .train_files()
            .iter()
            .chain(kind.test_files())
            .enumerate()
        {
            add(
                format!("{}/{f}", kind.folder()),
                &records(kind, per_class, k as u8),
            );
        }
        let names: String = (0..kind.num_classes())
            .map(|c| format!("class{c}\n"))
            .collect();
        add(
            format!("{}/{}", kind.folder(), kind.names_file()),
            format!("{names}\n").as_bytes(),
        );
        tar.into_inner().unwrap().finish().unwrap()
    }

    /// Writes the data files of `kind` (no tarball) into `data_dir`.
    pub fn write_dir(kind: Cifar, per_class: usize, data_dir: &Path) {
        let dir = dataset_dir(kind, data_dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (k, f) in kind
            .train_files()
            .iter()
            .chain(kind.test_files())
            .enumerate()
        {
            std::fs::write(dir.join(f), records(kind, per_class, k as u8)).unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_formats() {
        for kind in [Cifar::Cifar10, Cifar::Cifar100] {
            let bytes = synthetic::records(kind, 3, 7);
            let d = parse_records(&bytes, kind, Path::new("x.bin")).unwrap();
            assert_eq!(d.len(), 3 * kind.num_classes());
            assert_eq!(d.images.len(), d.len() * IMAGE_BYTES);
            assert_eq!(d.class_counts(), vec![3; kind.num_classes()]);
            let r = kind.record_len();
            assert_eq!(d.image(4), &bytes[4 * r + r - IMAGE_BYTES..5 * r]);
            assert_eq!(d.labels[4], 4);
        }
    }

    #[test]
    fn bad_size_and_labels_name_file_and_record() {
        let mut bytes = synthetic::records(Cifar::Cifar10, 1, 0);
        let path = Path::new("data_batch_9.bin");
        let err = parse_records(&bytes[..bytes.len() - 1], Cifar::Cifar10, path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data_batch_9.bin: 30729 bytes is not a whole number of 3073-byte records"
        );
        bytes[3 * 3073] = 10;
        let err = parse_records(&bytes, Cifar::Cifar10, path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data_batch_9.bin: record 3: class label 10 is out of range 0..10"
        );
        let mut bytes = synthetic::records(Cifar::Cifar100, 1, 0);
        bytes[2 * 3074] = 20;
        let err = parse_records(&bytes, Cifar::Cifar100, path).unwrap_err();
        assert!(
            err.to_string().contains("record 2: coarse label 20"),
            "{err}"
        );
        bytes[2 * 3074] = 0;
        bytes[5 * 3074 + 1] = 100;
        let err = parse_records(&bytes, Cifar::Cifar100, path).unwrap_err();
        assert!(
            err.to_string().contains("record 5: fine label 100"),
            "{err}"
        );
    }

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

    #[test]
    fn load_reads_folder_and_reports_missing_files() {
        let tmp = tempfile::tempdir().unwrap();
        let err = load(Cifar::Cifar10, tmp.path(), false).unwrap_err();
        assert!(matches!(err, WrnError::MissingData { .. }), "{err}");
        assert!(
            err.to_string().contains("actfn data fetch cifar10"),
            "{err}"
        );
        synthetic::write_dir(Cifar::Cifar100, 2, tmp.path());
        assert!(is_present(Cifar::Cifar100, tmp.path()));
        // 200 records per file: refused as incomplete, naming the file and both counts,
        // unless partial files are allowed.
        let err = load(Cifar::Cifar100, tmp.path(), false).unwrap_err();
        assert!(matches!(err, WrnError::PartialData { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("train.bin: 200 records, but the official file holds 50000")
                && text.contains("--allow-partial"),
            "{text}"
        );
        let d = load(Cifar::Cifar100, tmp.path(), true).unwrap();
        assert_eq!((d.train.len(), d.test.len()), (200, 200));
        assert_eq!(d.class_names[17], "17");
    }

    #[test]
    fn an_empty_batch_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = dataset_dir(Cifar::Cifar10, tmp.path());
        std::fs::create_dir_all(&dir).unwrap();
        // A complete first batch, an empty second one (files are read in order, so the
        // rest only need to exist).
        let full = synthetic::records(Cifar::Cifar10, 1000, 0);
        let small = synthetic::records(Cifar::Cifar10, 1, 0);
        for f in Cifar::Cifar10
            .train_files()
            .iter()
            .chain(Cifar::Cifar10.test_files())
        {
            let bytes: &[u8] = match *f {
                "data_batch_1.bin" => &full,
                "data_batch_2.bin" => &[],
                _ => &small,
            };
            std::fs::write(dir.join(f), bytes).unwrap();
        }
        let err = load(Cifar::Cifar10, tmp.path(), false).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("data_batch_2.bin: 0 records, but the official file holds 10000"),
            "{text}"
        );
        let d = load(Cifar::Cifar10, tmp.path(), true).unwrap();
        assert_eq!(d.train.len(), 10_000 + 3 * 10);
    }

    #[test]
    fn split_is_balanced_seeded_and_disjoint() {
        let bytes = synthetic::records(Cifar::Cifar10, 20, 0);
        let full = parse_records(&bytes, Cifar::Cifar10, Path::new("x")).unwrap();
        // Make every image unique so that membership can be checked by content.
        let mut full = full;
        for i in 0..full.len() {
            full.images[i * IMAGE_BYTES] = i as u8;
        }
        let config = SplitConfig {
            val_per_class: 5,
            train_size: None,
            seed: 3,
        };
        let s = split(&full, &config).unwrap();
        assert_eq!(s.val.class_counts(), vec![5; 10]);
        assert_eq!(s.train.class_counts(), vec![15; 10]);
        let key = |d: &Dataset, i: usize| d.image(i)[0];
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

    /// The whole pipeline on the development copy of CIFAR-10: 45K/5K/10K, ZCA fitted once.
    /// Slow (a 3072x3072 covariance and eigendecomposition): `cargo test -- --ignored`.
    #[test]
    #[ignore = "slow: fits ZCA on 45,000 real images"]
    fn prepare_real_cifar10() {
        let tarball = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/cifar-10-binary.tar.gz");
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
        let p = prepare(tmp.path(), &config).unwrap();
        let first = start.elapsed();
        assert_eq!(p.train_images.size(), vec![45_000, 3, 32, 32]);
        assert_eq!(p.val_images.size(), vec![5_000, 3, 32, 32]);
        assert_eq!(p.test_images.size(), vec![10_000, 3, 32, 32]);
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

    #[test]
    fn tensors_have_the_right_shape() {
        let bytes = synthetic::records(Cifar::Cifar10, 1, 0);
        let d = parse_records(&bytes, Cifar::Cifar10, Path::new("x")).unwrap();
        let x = d.images_tensor();
        assert_eq!(x.size(), vec![10, 3, 32, 32]);
        assert_eq!(x.kind(), Kind::Uint8);
        assert_eq!(x.int64_value(&[2, 1, 0, 5]), d.image(2)[1024 + 5] as i64);
        let y = d.labels_tensor();
        assert_eq!((y.size(), y.kind()), (vec![10], Kind::Int64));
        assert_eq!(y.int64_value(&[7]), 7);
    }
}
