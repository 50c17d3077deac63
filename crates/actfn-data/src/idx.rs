//! IDX files, the format of MNIST and Fashion-MNIST: the two data sets ([`IdxSet`]), their
//! official files with checksums, and reading them (gzip-compressed or not).
//!
//! An IDX file starts with two zero bytes, a type byte (0x08: unsigned byte) and the
//! number of dimensions, then each dimension as a big-endian u32, then the values.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};
use crate::samples::{Loaded, Samples, Values};

/// The IDX data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdxSet {
    /// LeCun, Cortes and Burges' handwritten digits: 60,000 + 10,000 grey 28x28 images.
    Mnist,
    /// Xiao, Rasul and Vollgraf's Zalando articles, MNIST's layout and sizes.
    FashionMnist,
}

/// One official file: its name and the MD5 of the `.gz` as published.
#[derive(Debug, Clone, Copy)]
pub struct IdxFile {
    /// File name, `.gz` included.
    pub name: &'static str,
    /// MD5 of the compressed file.
    pub md5: &'static str,
}

impl IdxSet {
    /// The name on the command line: `mnist` or `fashion-mnist`.
    pub fn name(self) -> &'static str {
        match self {
            IdxSet::Mnist => "mnist",
            IdxSet::FashionMnist => "fashion-mnist",
        }
    }

    /// The folder inside the data folder.
    pub fn folder(self) -> &'static str {
        self.name()
    }

    /// Where the files are published (the file name is appended). MNIST's original site
    /// refuses automated downloads; torchvision's mirror serves the same files.
    pub fn base_url(self) -> &'static str {
        match self {
            IdxSet::Mnist => "https://ossci-datasets.s3.amazonaws.com/mnist/",
            IdxSet::FashionMnist => "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        }
    }

    /// The four files: training images and labels, test images and labels.
    pub fn files(self) -> [IdxFile; 4] {
        let f = |name, md5| IdxFile { name, md5 };
        match self {
            IdxSet::Mnist => [
                f(
                    "train-images-idx3-ubyte.gz",
                    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                ),
                f(
                    "train-labels-idx1-ubyte.gz",
                    "d53e105ee54ea40749a09fcbcd1e9432",
                ),
                f(
                    "t10k-images-idx3-ubyte.gz",
                    "9fb629c4189551a2d022fa330f9573f3",
                ),
                f(
                    "t10k-labels-idx1-ubyte.gz",
                    "ec29112dd5afa0611ce80d1b7f02629c",
                ),
            ],
            IdxSet::FashionMnist => [
                f(
                    "train-images-idx3-ubyte.gz",
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                ),
                f(
                    "train-labels-idx1-ubyte.gz",
                    "25c81989df183df01b3e8a0aad5dffbe",
                ),
                f(
                    "t10k-images-idx3-ubyte.gz",
                    "bef4ecab320f06d8554ea6380940ec79",
                ),
                f(
                    "t10k-labels-idx1-ubyte.gz",
                    "bb300cfdad3c16e7a12a480ee83cd310",
                ),
            ],
        }
    }

    /// Class names, in label order.
    pub fn class_names(self) -> Vec<String> {
        match self {
            IdxSet::Mnist => (0..10).map(|d| d.to_string()).collect(),
            IdxSet::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ]
            .map(str::to_owned)
            .to_vec(),
        }
    }

    /// The folder of this set inside `data_dir`.
    pub fn dir(self, data_dir: &Path) -> PathBuf {
        data_dir.join(self.folder())
    }

    /// Whether all four files are in `data_dir`.
    pub fn is_present(self, data_dir: &Path) -> bool {
        let dir = self.dir(data_dir);
        self.files().iter().all(|f| dir.join(f.name).is_file())
    }

    /// Reads the four files from `data_dir/<folder>/`.
    pub fn load(self, data_dir: &Path) -> Result<Loaded> {
        let dir = self.dir(data_dir);
        let [train_x, train_y, test_x, test_y] = self.files().map(|f| dir.join(f.name));
        let classes = self.class_names().len();
        let loaded = Loaded {
            train: read_pair(&train_x, &train_y, classes)?,
            test: read_pair(&test_x, &test_y, classes)?,
            class_names: self.class_names(),
        };
        loaded.check()?;
        Ok(loaded)
    }
}

/// The MD5 of `bytes` in hex.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Images from `images` and their labels from `labels`, of `classes` classes.
pub fn read_pair(images: &Path, labels: &Path, classes: usize) -> Result<Samples> {
    let (dims, pixels) = read(images)?;
    let [n, h, w] = dims[..] else {
        return Err(DataError::bad(
            images,
            format!(
                "{} dimensions, expected 3 (images, rows, columns)",
                dims.len()
            ),
        ));
    };
    let (label_dims, label_bytes) = read(labels)?;
    let [m] = label_dims[..] else {
        return Err(DataError::bad(
            labels,
            format!("{} dimensions, expected 1 (labels)", label_dims.len()),
        ));
    };
    if n == 0 {
        return Err(DataError::bad(images, "no images"));
    }
    if m != n {
        return Err(DataError::bad(
            labels,
            format!("{m} labels, but {} holds {n} images", images.display()),
        ));
    }
    if let Some((i, &l)) = label_bytes
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= classes)
    {
        return Err(DataError::bad(
            labels,
            format!("label {i}: {l} is out of range 0..{classes}"),
        ));
    }
    Samples::new(
        Values::U8(pixels),
        vec![1, h, w],
        label_bytes.into_iter().map(u32::from).collect(),
        classes,
    )
}

/// Reads one IDX file of unsigned bytes: its dimensions and values.
pub fn read(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let raw = std::fs::read(path).map_err(DataError::io(path))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::bad(path, format!("truncated or corrupt gzip: {e}")))?;
        out
    } else {
        raw
    };
    parse(&bytes).map_err(|reason| DataError::bad(path, reason))
}

/// Parses IDX bytes (unsigned-byte values only).
pub fn parse(bytes: &[u8]) -> std::result::Result<(Vec<usize>, Vec<u8>), String> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err("not an IDX file (it must start with two zero bytes)".into());
    }
    if bytes[2] != 0x08 {
        return Err(format!(
            "value type 0x{:02x}; only unsigned bytes (0x08) are supported",
            bytes[2]
        ));
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(format!("{} bytes, shorter than its header", bytes.len()));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize)
        .collect();
    let expected = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let values = &bytes[header..];
    if expected != Some(values.len()) {
        return Err(format!(
            "{} values after the header, but dimensions {dims:?} need {}",
            values.len(),
            expected.map_or("more than memory holds".to_owned(), |e| e.to_string())
        ));
    }
    Ok((dims, values.to_vec()))
}

/// The bytes of an IDX file of unsigned bytes with dimensions `dims`.
pub fn encode(dims: &[usize], values: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(values);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_compressed_and_plain_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = IdxSet::FashionMnist.dir(tmp.path());
        std::fs::create_dir_all(&dir).unwrap();
        let [tx, ty, sx, sy] = IdxSet::FashionMnist.files().map(|f| dir.join(f.name));
        std::fs::write(&tx, gz(&encode(&[3, 2, 2], &(0..12).collect::<Vec<_>>()))).unwrap();
        std::fs::write(&ty, encode(&[3], &[9, 0, 4])).unwrap();
        std::fs::write(&sx, gz(&encode(&[1, 2, 2], &[7; 4]))).unwrap();
        std::fs::write(&sy, gz(&encode(&[1], &[2]))).unwrap();
        assert!(IdxSet::FashionMnist.is_present(tmp.path()));
        let d = IdxSet::FashionMnist.load(tmp.path()).unwrap();
        assert_eq!(d.train.shape, vec![1, 2, 2]);
        assert_eq!(d.train.labels, vec![9, 0, 4]);
        assert_eq!(d.test.values, Values::U8(vec![7; 4]));
        assert_eq!(d.class_names[9], "Ankle boot");

        std::fs::write(&sy, encode(&[1], &[10])).unwrap();
        let err = IdxSet::FashionMnist
            .load(tmp.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("t10k-labels-idx1-ubyte.gz: label 0: 10 is out of range 0..10"),
            "{err}"
        );
        std::fs::write(&sy, encode(&[2], &[1, 1])).unwrap();
        let err = IdxSet::FashionMnist
            .load(tmp.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t10k-labels-idx1-ubyte.gz: 2 labels, but"),
            "{err}"
        );
        let whole = gz(&encode(&[1, 2, 2], &[7; 4]));
        std::fs::write(&sx, &whole[..whole.len() - 6]).unwrap();
        let err = IdxSet::FashionMnist
            .load(tmp.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t10k-images-idx3-ubyte.gz: truncated or corrupt gzip"),
            "{err}"
        );
        std::fs::write(&sx, &encode(&[1, 2, 2], &[7; 4])[..18]).unwrap();
        let err = IdxSet::FashionMnist
            .load(tmp.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("t10k-images-idx3-ubyte.gz: 2 values after the header, but dimensions [1, 2, 2] need 4"), "{err}");
    }

    #[test]
    fn huge_dimensions_do_not_overflow() {
        let bytes = encode(
            &[u32::MAX as usize, u32::MAX as usize, u32::MAX as usize],
            &[],
        );
        let err = parse(&bytes).unwrap_err();
        assert!(
            err.contains("more than memory holds") || err.contains("need"),
            "{err}"
        );
    }
}
