//! Image folders in torchvision's `ImageFolder` layout: `ROOT/train/<class>/...` and an
//! optional `ROOT/test/<class>/...`, images `.png`, `.jpg` or `.jpeg`.
//!
//! As `torchvision.datasets.ImageFolder`: classes are the folder names of `train/` in
//! sorted order (by code point, as Python sorts strings), a class folder is searched
//! recursively, and its files are taken directory by directory in sorted order, names
//! sorted within each; extensions are matched case-insensitively. Unlike torchvision,
//! which converts everything to RGB, a folder whose images are all grey gives
//! one-channel samples; one colour image makes every sample RGB (alpha dropped). Images
//! must share one size unless an [`ImageSize`] resizes them all (bilinear).

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{ColorType, DynamicImage};
use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};
use crate::image_size::ImageSize;
use crate::progress::Progress;
use crate::samples::{Loaded, Samples, Values};

/// Extensions of image files, lower case.
const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// The files of an image folder: the classes and each split's images with their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderFiles {
    /// The folder.
    pub root: PathBuf,
    /// Class names, sorted; a label is a position in this list.
    pub classes: Vec<String>,
    /// Training images and labels, in torchvision's order.
    pub train: Vec<(PathBuf, u32)>,
    /// Test images and labels (none without `test/`).
    pub test: Vec<(PathBuf, u32)>,
}

/// Lists the folder at `root`, refusing a layout torchvision would refuse: no `train/`, no
/// class folders, a class folder without images, a test class that training lacks.
pub fn list(root: &Path) -> Result<FolderFiles> {
    let train_dir = root.join("train");
    if !train_dir.is_dir() {
        let reason = if root.is_dir() {
            "no train/ folder; expected ROOT/train/<class>/*.png|jpg|jpeg".to_owned()
        } else {
            "not a folder".to_owned()
        };
        return Err(DataError::bad(root, reason));
    }
    let classes = class_folders(&train_dir)?;
    if classes.is_empty() {
        return Err(DataError::bad(&train_dir, "no class folders"));
    }
    let train = images_of(&train_dir, &classes, &classes)?;
    let test_dir = root.join("test");
    let test = if test_dir.is_dir() {
        let test_classes = class_folders(&test_dir)?;
        if test_classes.is_empty() {
            return Err(DataError::bad(&test_dir, "no class folders"));
        }
        if let Some(unknown) = test_classes.iter().find(|c| !classes.contains(c)) {
            return Err(DataError::bad(
                &test_dir.join(unknown),
                "a test class that train/ does not have",
            ));
        }
        images_of(&test_dir, &test_classes, &classes)?
    } else {
        Vec::new()
    };
    Ok(FolderFiles {
        root: root.to_owned(),
        classes,
        train,
        test,
    })
}

/// The names of the folders in `dir`, sorted.
fn class_folders(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(DataError::io(dir))? {
        let entry = entry.map_err(DataError::io(dir))?;
        // `metadata` follows links, as torchvision's `os.scandir(...).is_dir()` does.
        if std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()) {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(DataError::bad(
                    &entry.path(),
                    "a folder name that is not UTF-8",
                ));
            };
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The images of `classes` under `dir`, labelled by their position in `all_classes`.
fn images_of(
    dir: &Path,
    classes: &[String],
    all_classes: &[String],
) -> Result<Vec<(PathBuf, u32)>> {
    let mut out = Vec::new();
    for class in classes {
        let label = all_classes
            .iter()
            .position(|c| c == class)
            .expect("every class is one of all classes") as u32;
        let folder = dir.join(class);
        let mut files = Vec::new();
        collect_images(&folder, &mut files)?;
        if files.is_empty() {
            return Err(DataError::bad(
                &folder,
                "a class folder without .png, .jpg or .jpeg images",
            ));
        }
        // torchvision: `sorted(os.walk(...))`, then `sorted(fnames)` in each directory.
        files.sort();
        out.extend(files.into_iter().map(|(d, f)| (d.join(f), label)));
    }
    Ok(out)
}

/// Every image file under `dir`, as (directory, file name), recursively.
fn collect_images(dir: &Path, out: &mut Vec<(PathBuf, String)>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(DataError::io(dir))? {
        let entry = entry.map_err(DataError::io(dir))?;
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(DataError::io(&path))?;
        if meta.is_dir() {
            collect_images(&path, out)?;
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_image = name
            .rsplit_once('.')
            .is_some_and(|(_, ext)| EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()));
        if meta.is_file() && is_image {
            out.push((dir.to_owned(), name));
        }
    }
    Ok(())
}

impl FolderFiles {
    /// A SHA-256 of everything that decides the decoded samples: the classes, each image's
    /// path below the root, label and bytes, and the size images are resized to.
    pub fn content_key(&self, size: Option<ImageSize>) -> Result<[u8; 32]> {
        let mut hash = Sha256::new();
        hash.update(b"actfn image folder v1\n");
        hash.update(format!("size {size:?}\nclasses {:?}\n", self.classes).as_bytes());
        let progress = Progress::new(
            (self.train.len() + self.test.len()) as u64,
            "hashing images",
        );
        for (split, files) in [("train", &self.train), ("test", &self.test)] {
            for (path, label) in files {
                let bytes = std::fs::read(path).map_err(DataError::io(path))?;
                let relative = path.strip_prefix(&self.root).unwrap_or(path);
                hash.update(
                    format!("{split} {label} {} {}\n", relative.display(), bytes.len()).as_bytes(),
                );
                hash.update(&bytes);
                progress.inc();
            }
        }
        progress.finish();
        Ok(hash.finalize().into())
    }

    /// Decodes every image, resized to `size` when given.
    pub fn decode(&self, size: Option<ImageSize>) -> Result<Loaded> {
        let progress = Progress::new(
            (self.train.len() + self.test.len()) as u64,
            "decoding images",
        );
        let mut decoded = Vec::with_capacity(self.train.len() + self.test.len());
        // The image every other must match in size when there is no `size`.
        let mut first: Option<(&Path, u32, u32)> = None;
        for (path, _) in self.train.iter().chain(&self.test) {
            let image = decode_one(path, size)?;
            match first {
                None => first = Some((path, image.width(), image.height())),
                Some((first_path, w, h)) if (image.width(), image.height()) != (w, h) => {
                    return Err(DataError::bad(
                        path,
                        format!(
                            "{}x{} image, but {} is {w}x{h}; pass --image-size to resize all images to one size",
                            image.width(),
                            image.height(),
                            first_path.display()
                        ),
                    ));
                }
                Some(_) => {}
            }
            decoded.push(image);
            progress.inc();
        }
        progress.finish();
        let grey = decoded.iter().all(|i| is_grey(i.color()));
        let channels = if grey { 1 } else { 3 };
        let (width, height) = first.map(|(_, w, h)| (w, h)).expect("train/ has images");
        let shape = vec![channels, height as usize, width as usize];
        let num_classes = self.classes.len();
        let (train_images, test_images) = decoded.split_at(self.train.len());
        let samples = |images: &[DynamicImage], files: &[(PathBuf, u32)]| {
            let mut values = Vec::with_capacity(images.len() * shape.iter().product::<usize>());
            for image in images {
                push_channel_major(image, grey, &mut values);
            }
            Samples::new(
                Values::U8(values),
                shape.clone(),
                files.iter().map(|&(_, l)| l).collect(),
                num_classes,
            )
        };
        let loaded = Loaded {
            train: samples(train_images, &self.train)?,
            test: samples(test_images, &self.test)?,
            class_names: self.classes.clone(),
        };
        loaded.check()?;
        Ok(loaded)
    }
}

/// Writes `loaded` as an image folder at `root` (which must not exist): PNG files
/// `train/<class>/<i>.png` and `test/<class>/<i>.png`, numbered so that reading the folder
/// back gives the same samples, grouped by class ([`Samples::grouped_by_class`]). Class folders are the class names when
/// those sort in label order and are usable as folder names, else `<label>_<name>` with
/// zero-padded labels. Written into a temporary folder beside `root` and renamed.
pub fn write(loaded: &Loaded, root: &Path) -> Result<()> {
    let shape = &loaded.train.shape;
    let (channels, height, width) = match shape[..] {
        [c @ (1 | 3), h, w] => (c, h as u32, w as u32),
        _ => {
            return Err(DataError::Mismatch(format!(
                "samples of shape {shape:?} are not grey or RGB images"
            )))
        }
    };
    let Values::U8(_) = loaded.train.values else {
        return Err(DataError::Mismatch(
            "only byte images can be written as PNG files".into(),
        ));
    };
    if root.exists() {
        return Err(DataError::bad(root, "already exists; choose a new folder"));
    }
    let folders = class_folder_names(&loaded.class_names);
    let tmp = crate::cache::temporary_name(root);
    let written = (|| -> Result<()> {
        for (split, samples) in [("train", &loaded.train), ("test", &loaded.test)] {
            let Values::U8(values) = &samples.values else {
                return Err(DataError::Mismatch("test images are not bytes".into()));
            };
            let d = samples.features();
            let digits = samples.len().max(1).to_string().len();
            for (i, (pixels, &label)) in values.chunks_exact(d).zip(&samples.labels).enumerate() {
                let dir = tmp.join(split).join(&folders[label as usize]);
                std::fs::create_dir_all(&dir).map_err(DataError::io(&dir))?;
                let path = dir.join(format!("{i:0digits$}.png"));
                let plane = (height * width) as usize;
                let saved = if channels == 1 {
                    image::GrayImage::from_raw(width, height, pixels.to_vec())
                        .expect("one plane of pixels")
                        .save_with_format(&path, image::ImageFormat::Png)
                } else {
                    let interleaved = (0..plane)
                        .flat_map(|p| (0..3).map(move |c| pixels[c * plane + p]))
                        .collect();
                    image::RgbImage::from_raw(width, height, interleaved)
                        .expect("three planes of pixels")
                        .save_with_format(&path, image::ImageFormat::Png)
                };
                saved.map_err(|e| DataError::bad(&path, format!("cannot write: {e}")))?;
            }
        }
        std::fs::rename(&tmp, root).map_err(DataError::io(root))
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written
}

/// Folder names for `names` that sort in label order.
fn class_folder_names(names: &[String]) -> Vec<String> {
    let usable =
        |n: &String| !n.is_empty() && !n.contains(['/', '\\', '\0']) && n != "." && n != "..";
    if names.iter().all(usable) && names.windows(2).all(|w| w[0] < w[1]) {
        return names.to_vec();
    }
    let digits = names.len().to_string().len();
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let clean: String = n
                .chars()
                .map(|c| {
                    if c == '/' || c == '\\' || c == '\0' {
                        '_'
                    } else {
                        c
                    }
                })
                .collect();
            format!("{i:0digits$}_{clean}")
        })
        .collect()
}

fn decode_one(path: &Path, size: Option<ImageSize>) -> Result<DynamicImage> {
    let bytes = std::fs::read(path).map_err(DataError::io(path))?;
    let image = image::load_from_memory(&bytes)
        .map_err(|e| DataError::bad(path, format!("unreadable image: {e}")))?;
    Ok(match size {
        Some(s) if (image.width(), image.height()) != (s.width, s.height) => {
            image.resize_exact(s.width, s.height, FilterType::Triangle)
        }
        _ => image,
    })
}

fn is_grey(color: ColorType) -> bool {
    matches!(
        color,
        ColorType::L8 | ColorType::La8 | ColorType::L16 | ColorType::La16
    )
}

/// Appends `image` channel-major (`C x H x W`), one channel when `grey`, else RGB.
fn push_channel_major(image: &DynamicImage, grey: bool, out: &mut Vec<u8>) {
    if grey {
        out.extend_from_slice(image.to_luma8().as_raw());
        return;
    }
    let rgb = image.to_rgb8();
    let pixels = rgb.as_raw();
    for c in 0..3 {
        out.extend(pixels.iter().skip(c).step_by(3));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{write_folder, write_png};

    #[test]
    fn classes_sorted_files_in_torchvision_order_grey_stays_one_channel() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write_folder(root, &["b", "a"], 2, 4, 3, false);
        std::fs::create_dir_all(root.join("train/a/sub")).unwrap();
        write_png(&root.join("train/a/sub/0.PNG"), 4, 3, 200, false);
        std::fs::write(root.join("train/a/notes.txt"), "not an image").unwrap();
        let files = list(root).unwrap();
        assert_eq!(files.classes, vec!["a", "b"]);
        let names: Vec<String> = files
            .train
            .iter()
            .map(|(p, l)| format!("{}:{l}", p.strip_prefix(root).unwrap().display()))
            .collect();
        assert_eq!(
            names,
            [
                "train/a/0.png:0",
                "train/a/1.png:0",
                "train/a/sub/0.PNG:0",
                "train/b/0.png:1",
                "train/b/1.png:1"
            ]
        );
        assert!(files.test.is_empty());
        let loaded = files.decode(None).unwrap();
        assert_eq!(loaded.train.shape, vec![1, 3, 4]);
        assert_eq!(loaded.train.labels, vec![0, 0, 0, 1, 1]);
        assert!(loaded.test.is_empty());
        let Values::U8(v) = &loaded.train.values else {
            panic!()
        };
        assert_eq!(v[2 * 12], 200);
    }

    #[test]
    fn colour_images_are_channel_major_rgb() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write_folder(root, &["x"], 1, 2, 2, true);
        let img = image::RgbImage::from_fn(2, 2, |x, y| image::Rgb([x as u8, y as u8, 9]));
        img.save(root.join("train/x/0.png")).unwrap();
        let loaded = list(root).unwrap().decode(None).unwrap();
        assert_eq!(loaded.train.shape, vec![3, 2, 2]);
        assert_eq!(
            loaded.train.values,
            Values::U8(vec![0, 1, 0, 1, 0, 0, 1, 1, 9, 9, 9, 9])
        );
    }

    #[test]
    fn resizes_when_asked_and_keeps_test_labels_of_training_classes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write_folder(root, &["a", "b", "c"], 1, 5, 5, false);
        std::fs::create_dir_all(root.join("test/c")).unwrap();
        write_png(&root.join("test/c/z.jpg.png"), 8, 6, 1, false);
        let files = list(root).unwrap();
        assert_eq!(files.test.len(), 1);
        assert_eq!(files.test[0].1, 2);
        let err = files.decode(None).unwrap_err().to_string();
        assert!(
            err.contains("z.jpg.png: 8x6 image, but") && err.contains("--image-size"),
            "{err}"
        );
        let loaded = files.decode(Some("4x3".parse().unwrap())).unwrap();
        assert_eq!(loaded.train.shape, vec![1, 4, 3]);
        assert_eq!(loaded.test.labels, vec![2]);
    }

    #[test]
    fn written_folders_read_back_as_the_same_samples() {
        let tmp = tempfile::tempdir().unwrap();
        let train = Samples::new(
            Values::U8((0..36).map(|v| v * 7).collect()),
            vec![3, 2, 2],
            vec![1, 0, 1],
            2,
        )
        .unwrap();
        let loaded = Loaded {
            test: train.subset(&[2]),
            train,
            class_names: vec!["dog".into(), "cat".into()],
        };
        let root = tmp.path().join("out");
        write(&loaded, &root).unwrap();
        assert!(root.join("train/0_dog").is_dir() && root.join("test/1_cat/0.png").is_file());
        let back = list(&root).unwrap().decode(None).unwrap();
        assert_eq!(back.train, loaded.train.grouped_by_class());
        assert_eq!(back.test, loaded.test);
        assert_eq!(back.class_names, vec!["0_dog", "1_cat"]);
        let err = write(&loaded, &root).unwrap_err().to_string();
        assert!(
            err.ends_with("out: already exists; choose a new folder"),
            "{err}"
        );
    }

    #[test]
    fn bad_folders_name_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let err = list(root).unwrap_err().to_string();
        assert!(
            err.ends_with(": no train/ folder; expected ROOT/train/<class>/*.png|jpg|jpeg"),
            "{err}"
        );
        write_folder(root, &["a", "b"], 1, 2, 2, false);
        std::fs::create_dir_all(root.join("train/empty")).unwrap();
        let err = list(root).unwrap_err().to_string();
        assert!(err.contains("train/empty: a class folder without"), "{err}");
        std::fs::remove_dir(root.join("train/empty")).unwrap();
        std::fs::create_dir_all(root.join("test/zebra")).unwrap();
        let err = list(root).unwrap_err().to_string();
        assert!(
            err.contains("test/zebra: a test class that train/ does not have"),
            "{err}"
        );
        std::fs::remove_dir_all(root.join("test")).unwrap();
        // A truncated PNG.
        let path = root.join("train/b/0.png");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = list(root).unwrap().decode(None).unwrap_err().to_string();
        assert!(err.contains("train/b/0.png: unreadable image"), "{err}");
        assert_eq!(err.lines().count(), 1);
    }
}
