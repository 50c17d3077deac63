//! End-to-end tests of your own data: `--dataset folder:` and `npz:`, `actfn data export`,
//! and the one-line refusals of bad data. The data are small and synthetic, so these tests
//! need no download.

use std::path::{Path, PathBuf};

use actfn_data::testing::{write_npz_arrays, write_png};
use tempfile::TempDir;

mod common;
use common::{actfn_in as actfn, fails, ok};

/// An npz of 3 classes x 12 colour 8x8 images (and 6 test images) whose pixels depend on
/// class and index, so that a small network can learn something.
fn synthetic_npz(path: &Path) {
    let image = |class: usize, i: usize| -> Vec<u8> {
        (0..192)
            .map(|p| ((p * (class + 1) * 7 + i * 13 + (p / 64) * 50) % 256) as u8)
            .collect()
    };
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..36 {
        x.extend(image(i % 3, i));
        y.extend((i as i64 % 3).to_le_bytes());
    }
    let mut tx = Vec::new();
    let mut ty = Vec::new();
    for i in 0..6 {
        tx.extend(image(i % 3, 100 + i));
        ty.extend((i as i64 % 3).to_le_bytes());
    }
    write_npz_arrays(
        path,
        &[
            ("x_train", "|u1", &[36, 8, 8, 3], x),
            ("y_train", "<i8", &[36], y),
            ("x_test", "|u1", &[6, 8, 8, 3], tx),
            ("y_test", "<i8", &[6], ty),
        ],
    );
}

fn train_args<'a>(dataset: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--activation",
        "max(x, 0)",
        "--dataset",
        dataset,
        "--arch",
        "mlp-16-1",
        "--epochs",
        "2",
        "--batch",
        "8",
        "--threads",
        "1",
        "--seed",
        "3",
        "--out",
        out,
        "--data-dir",
        "data",
    ]
}

/// The training record without its timing column.
fn epochs_without_seconds(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_owned())
        .collect()
}

#[test]
fn the_same_images_as_a_folder_and_as_an_npz_train_identically() {
    let dir = TempDir::new().unwrap();
    let npz = dir.path().join("own.npz");
    synthetic_npz(&npz);
    // Grouped by class on export, so that the folder and the re-exported npz hold the
    // same samples in the same order.
    ok(actfn(
        dir.path(),
        &[
            "data",
            "export",
            "npz:own.npz",
            "--format",
            "folder",
            "--out",
            "folder",
        ],
    ));
    ok(actfn(
        dir.path(),
        &[
            "data",
            "export",
            "npz:own.npz",
            "--format",
            "npz",
            "--out",
            "grouped.npz",
        ],
    ));
    assert!(dir.path().join("folder/train/0/00.png").is_file());
    assert!(dir.path().join("folder/test/2").is_dir());
    ok(actfn(
        dir.path(),
        &train_args("folder:folder", "run-folder"),
    ));
    ok(actfn(dir.path(), &train_args("npz:grouped.npz", "run-npz")));
    let folder = epochs_without_seconds(&dir.path().join("run-folder/metrics.csv"));
    let npz = epochs_without_seconds(&dir.path().join("run-npz/metrics.csv"));
    assert_eq!(folder.len(), 3, "{folder:?}");
    assert_eq!(folder, npz);
    // The folder was decoded once, into the cache the second run reads.
    let cached: Vec<PathBuf> = std::fs::read_dir(dir.path().join("data/cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let data = std::fs::read_to_string(dir.path().join("run-folder/data.ron")).unwrap();
    assert!(
        data.contains("normalize: true") && data.contains("val_per_class: 1"),
        "{data}"
    );
}

/// Asserts that `train` on `dataset` exits 2 with one line naming `file` and `reason`, and
/// writes no run folder.
fn refused(dir: &Path, dataset: &str, file: &str, reason: &str) {
    let err = fails(actfn(dir, &train_args(dataset, "run")));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(file) && err.contains(reason),
        "{file} / {reason}: {err}"
    );
    assert!(!dir.join("run").exists(), "{dataset}");
}

#[test]
fn bad_folders_are_refused_naming_the_file() {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("imgs");
    for class in ["a", "b"] {
        for i in 0..10 {
            write_png(
                &root.join(format!("train/{class}/{i}.png")),
                6,
                6,
                i as u8 * 20,
                true,
            );
        }
    }
    std::fs::create_dir_all(root.join("train/c")).unwrap();
    refused(
        dir.path(),
        "folder:imgs",
        "train/c",
        "a class folder without .png, .jpg or .jpeg images",
    );
    std::fs::remove_dir(root.join("train/c")).unwrap();

    write_png(&root.join("train/b/big.png"), 7, 6, 3, false);
    refused(
        dir.path(),
        "folder:imgs",
        "train/b/big.png",
        "7x6 image, but",
    );
    // --image-size resizes them all, and training goes on.
    let mut args = train_args("folder:imgs", "resized");
    args.extend(["--image-size", "5"]);
    ok(actfn(dir.path(), &args));
    std::fs::remove_file(root.join("train/b/big.png")).unwrap();

    let path = root.join("train/a/3.png");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    refused(
        dir.path(),
        "folder:imgs",
        "train/a/3.png",
        "unreadable image",
    );
    std::fs::write(&path, &bytes).unwrap();

    std::fs::create_dir_all(root.join("test")).unwrap();
    refused(dir.path(), "folder:imgs", "imgs/test", "no class folders");
    refused(dir.path(), "folder:nothing", "nothing", "no such folder");
}

#[test]
fn bad_archives_are_refused_naming_the_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("bad.npz");
    let labels = |v: &[i64]| v.iter().flat_map(|l| l.to_le_bytes()).collect::<Vec<u8>>();
    let x = || vec![7u8; 40 * 4];
    let cases: Vec<(Vec<(&str, &str, &[u64], Vec<u8>)>, &str)> = vec![
        (vec![("x_train", "|u1", &[40, 4], x())], "no array y_train"),
        (
            vec![
                ("x_train", "|u1", &[40, 4], x()),
                ("y_train", "<i8", &[39], labels(&[0; 39])),
            ],
            "x_train has 40 samples, y_train 39 labels",
        ),
        (
            vec![
                ("x_train", "|u1", &[40, 4], x()),
                ("y_train", "<i8", &[40], labels(&[-1; 40])),
            ],
            "label -1 at 0 is out of range",
        ),
        (
            vec![
                ("x_train", "|u1", &[40, 4], x()),
                ("y_train", "<i8", &[40], labels(&[0; 40])),
                ("x_test", "|u1", &[1, 4], vec![0; 4]),
                ("y_test", "<i8", &[1], labels(&[5])),
            ],
            "y_test[0]: label 5 is out of range 0..1",
        ),
        (
            vec![
                ("x_train", "|u1", &[0, 4], vec![]),
                ("y_train", "<i8", &[0], vec![]),
            ],
            "x_train has no samples",
        ),
    ];
    for (arrays, reason) in cases {
        write_npz_arrays(&path, &arrays);
        refused(dir.path(), "npz:bad.npz", "bad.npz", reason);
    }
    // Vectors cannot be flipped.
    write_npz_arrays(
        &path,
        &[
            ("x_train", "|u1", &[40, 4], x()),
            ("y_train", "<i8", &[40], labels(&[0; 40])),
        ],
    );
    let mut args = train_args("npz:bad.npz", "run");
    args.extend(["--augment", "flip"]);
    let err = fails(actfn(dir.path(), &args));
    assert!(
        err.contains("holds vectors, not images; use --augment none"),
        "{err}"
    );
}
