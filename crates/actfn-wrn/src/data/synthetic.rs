//! Small synthetic data sets and tarballs in the official layout, for tests.

use std::path::Path;

use super::{dataset_dir, Cifar, IMAGE_BYTES};

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
