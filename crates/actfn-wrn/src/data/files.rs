//! Reading the official binary release: one file ([`read_file`], [`read_complete_file`])
//! or a data set's whole folder ([`load`]).

use std::path::{Path, PathBuf};

use actfn_data::{Loaded, Values};

use super::cifar::Cifar;
use super::dataset::{Dataset, IMAGE_BYTES, IMAGE_SHAPE};
use crate::error::{Result, WrnError};

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

pub(crate) fn parse_records(bytes: &[u8], kind: Cifar, path: &Path) -> Result<Dataset> {
    let record_len = kind.record_len();
    if bytes.len() % record_len != 0 {
        return Err(WrnError::BadFileSize {
            path: path.to_owned(),
            size: bytes.len() as u64,
            record_len,
        });
    }
    let n = bytes.len() / record_len;
    let mut images = Vec::with_capacity(n * IMAGE_BYTES);
    let mut labels = Vec::with_capacity(n);
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
        labels.push(u32::from(label));
        images.extend_from_slice(&record[kind.label_bytes()..]);
    }
    Ok(Dataset::new(
        Values::U8(images),
        IMAGE_SHAPE.iter().map(|&d| d as usize).collect(),
        labels,
        kind.num_classes(),
    )?)
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
/// be complete unless `allow_partial` ([`read_complete_file`]). Class names come from the
/// names file, or are the class numbers when it is missing.
pub fn load(kind: Cifar, data_dir: &Path, allow_partial: bool) -> Result<Loaded> {
    let dir = dataset_dir(kind, data_dir);
    let read_all = |files: &[&str]| -> Result<Dataset> {
        let mut all = Dataset::empty(
            IMAGE_SHAPE.iter().map(|&d| d as usize).collect(),
            kind.num_classes(),
        );
        for f in files {
            let path = dir.join(f);
            if !path.is_file() {
                return Err(WrnError::MissingData {
                    dataset: kind.name().to_owned(),
                    data_dir: data_dir.to_owned(),
                    missing: path,
                });
            }
            all.extend(&read_complete_file(&path, kind, allow_partial)?)?;
        }
        Ok(all)
    };
    let train = read_all(kind.train_files())?;
    let test = read_all(kind.test_files())?;
    let class_names = read_class_names(&dir.join(kind.names_file()), kind.num_classes())?;
    Ok(Loaded {
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
#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic;

    #[test]
    fn parses_both_formats() {
        for kind in [Cifar::Cifar10, Cifar::Cifar100] {
            let bytes = synthetic::records(kind, 3, 7);
            let d = parse_records(&bytes, kind, Path::new("x.bin")).unwrap();
            assert_eq!(d.len(), 3 * kind.num_classes());
            assert_eq!(d.values.len(), d.len() * IMAGE_BYTES);
            assert_eq!(d.class_counts(), vec![3; kind.num_classes()]);
            let r = kind.record_len();
            let Values::U8(v) = &d.values else { panic!() };
            assert_eq!(
                &v[4 * IMAGE_BYTES..5 * IMAGE_BYTES],
                &bytes[4 * r + r - IMAGE_BYTES..5 * r]
            );
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
}
