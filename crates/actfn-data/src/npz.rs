//! NumPy `.npz` archives: `x_train`, `y_train` and optionally `x_test`, `y_test`.
//!
//! `x` holds images, `N x H x W` (grey), `N x C x H x W` or `N x H x W x C` with C in
//! {1, 3, 4} (NCHW when the second axis is a channel count, else NHWC when the last is),
//! or vectors, `N x D`; as uint8 (pixels, scaled by 1/255 for training), float32 or
//! float64 (used as they are; float64 is narrowed to float32). `y` holds integer labels
//! `0..K`, `N` or `N x 1`; K is one more than the largest training label.

use std::path::Path;

use npyz::npz::NpzArchive;
use npyz::{DType, NpyFile, Order, TypeChar};

use crate::error::{DataError, Result};
use crate::samples::{numbered_classes, Loaded, Samples, Values};

/// The most classes accepted: a stray label such as 4,000,000,000 must not size a
/// classifier of billions of weights.
pub const MAX_CLASSES: usize = 100_000;

/// Reads the archive at `path`.
pub fn read(path: &Path) -> Result<Loaded> {
    let mut archive = NpzArchive::open(path)
        .map_err(|e| DataError::bad(path, format!("not a readable .npz archive: {e}")))?;
    let names: Vec<String> = archive.array_names().map(str::to_owned).collect();
    let missing = |name: &str| {
        DataError::bad(
            path,
            format!("no array {name} (the archive has: {})", names.join(", ")),
        )
    };
    let (x_train, train_shape) =
        read_x(&mut archive, path, "x_train")?.ok_or_else(|| missing("x_train"))?;
    let y_train = read_y(&mut archive, path, "y_train")?.ok_or_else(|| missing("y_train"))?;
    let test = match (
        read_x(&mut archive, path, "x_test")?,
        read_y(&mut archive, path, "y_test")?,
    ) {
        (Some(x), Some(y)) => Some((x, y)),
        (None, None) => None,
        (Some(_), None) => return Err(missing("y_test")),
        (None, Some(_)) => return Err(missing("x_test")),
    };
    check_lengths(path, "train", &x_train, &train_shape, &y_train)?;
    let num_classes = y_train.iter().max().map_or(0, |&m| m as usize + 1);
    if num_classes > MAX_CLASSES {
        return Err(DataError::bad(
            path,
            format!(
                "y_train: label {} is out of range (at most {MAX_CLASSES} classes)",
                num_classes - 1
            ),
        ));
    }
    let train = Samples::new(x_train, train_shape.clone(), y_train, num_classes)
        .map_err(|e| DataError::bad(path, format!("x_train: {e}")))?;
    let test = match test {
        None => train.none_like(),
        Some(((x, shape), y)) => {
            check_lengths(path, "test", &x, &shape, &y)?;
            if shape != train_shape {
                return Err(DataError::bad(
                    path,
                    format!("x_test samples are {shape:?}, x_train samples {train_shape:?}"),
                ));
            }
            if x.kind() != train.values.kind() {
                return Err(DataError::bad(
                    path,
                    format!("x_test is {}, x_train {}", x.kind(), train.values.kind()),
                ));
            }
            if let Some((i, &l)) = y
                .iter()
                .enumerate()
                .find(|(_, &l)| l as usize >= num_classes)
            {
                return Err(DataError::bad(
                    path,
                    format!("y_test[{i}]: label {l} is out of range 0..{num_classes} (the classes of y_train)"),
                ));
            }
            Samples::new(x, shape, y, num_classes)
                .map_err(|e| DataError::bad(path, format!("x_test: {e}")))?
        }
    };
    let loaded = Loaded {
        train,
        test,
        class_names: numbered_classes(num_classes),
    };
    loaded
        .check()
        .map_err(|e| DataError::bad(path, e.to_string()))?;
    Ok(loaded)
}

fn check_lengths(path: &Path, split: &str, x: &Values, shape: &[usize], y: &[u32]) -> Result<()> {
    let n = x.len() / shape.iter().product::<usize>().max(1);
    if n == 0 {
        return Err(DataError::bad(path, format!("x_{split} has no samples")));
    }
    if n != y.len() {
        return Err(DataError::bad(
            path,
            format!("x_{split} has {n} samples, y_{split} {} labels", y.len()),
        ));
    }
    Ok(())
}

/// The array `name`, if the archive has it: the values in C order (samples channel-major)
/// and the shape of one sample.
fn read_x<R: std::io::Read + std::io::Seek>(
    archive: &mut NpzArchive<R>,
    path: &Path,
    name: &str,
) -> Result<Option<(Values, Vec<usize>)>> {
    let Some(array) = archive
        .by_name(name)
        .map_err(|e| DataError::bad(path, format!("{name}: {e}")))?
    else {
        return Ok(None);
    };
    let bad = |reason: String| DataError::bad(path, format!("{name}: {reason}"));
    if array.order() == Order::Fortran {
        return Err(bad(
            "Fortran order is not supported; save it with np.ascontiguousarray".into(),
        ));
    }
    let dims: Vec<usize> = array.shape().iter().map(|&d| d as usize).collect();
    let is_channels = |c: usize| matches!(c, 1 | 3 | 4);
    // (sample shape as stored, whether it is channel-last)
    let (stored, channel_last) = match dims[..] {
        [_, d] => (vec![d], false),
        [_, h, w] => (vec![1, h, w], false),
        [_, c, h, w] if is_channels(c) => (vec![c, h, w], false),
        [_, h, w, c] if is_channels(c) => (vec![h, w, c], true),
        _ => {
            return Err(bad(format!(
                "shape {dims:?} is neither vectors (N, D) nor images (N, H, W), (N, C, H, W) or (N, H, W, C) with C in 1, 3, 4"
            )))
        }
    };
    let type_str = match array.dtype() {
        DType::Plain(t) => t,
        other => {
            return Err(bad(format!(
                "dtype {} is not a plain number",
                other.descr()
            )))
        }
    };
    let read = |e: std::io::Error| bad(format!("cannot read: {e}"));
    let values = match (type_str.type_char(), type_str.size_field()) {
        (TypeChar::Uint, 1) => Values::U8(array.into_vec::<u8>().map_err(read)?),
        (TypeChar::Float, 4) => Values::F32(array.into_vec::<f32>().map_err(read)?),
        (TypeChar::Float, 8) => Values::F32(
            array
                .into_vec::<f64>()
                .map_err(read)?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
        ),
        _ => {
            return Err(bad(format!(
                "dtype {type_str} is not uint8, float32 or float64"
            )))
        }
    };
    if !channel_last {
        return Ok(Some((values, stored)));
    }
    let [h, w, c] = stored[..] else {
        unreachable!("channel-last shapes have three axes")
    };
    let values = match values {
        Values::U8(v) => Values::U8(channel_major(&v, h, w, c)),
        Values::F32(v) => Values::F32(channel_major(&v, h, w, c)),
    };
    Ok(Some((values, vec![c, h, w])))
}

/// `H x W x C` samples to `C x H x W`.
fn channel_major<T: Copy>(values: &[T], h: usize, w: usize, c: usize) -> Vec<T> {
    let d = h * w * c;
    let mut out = Vec::with_capacity(values.len());
    for sample in values.chunks_exact(d) {
        for channel in 0..c {
            out.extend(sample.iter().skip(channel).step_by(c));
        }
    }
    out
}

/// The labels `name`, if the archive has them: integers, `N` or `N x 1`, none negative.
fn read_y<R: std::io::Read + std::io::Seek>(
    archive: &mut NpzArchive<R>,
    path: &Path,
    name: &str,
) -> Result<Option<Vec<u32>>> {
    let Some(array) = archive
        .by_name(name)
        .map_err(|e| DataError::bad(path, format!("{name}: {e}")))?
    else {
        return Ok(None);
    };
    let bad = |reason: String| DataError::bad(path, format!("{name}: {reason}"));
    match array.shape() {
        [_] | [_, 1] => {}
        other => return Err(bad(format!("shape {other:?}; labels are (N,) or (N, 1)"))),
    }
    let labels = integers(array).map_err(&bad)?;
    labels
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            u32::try_from(l).map_err(|_| {
                bad(format!(
                    "label {l} at {i} is out of range (labels are 0..K)"
                ))
            })
        })
        .collect::<Result<Vec<u32>>>()
        .map(Some)
}

/// The values of an integer array of any width, as i64.
fn integers<R: std::io::Read>(array: NpyFile<R>) -> std::result::Result<Vec<i64>, String> {
    let DType::Plain(t) = array.dtype() else {
        return Err("labels must be integers".into());
    };
    let read = |e: std::io::Error| format!("cannot read: {e}");
    Ok(match (t.type_char(), t.size_field()) {
        (TypeChar::Uint, 1) => array
            .into_vec::<u8>()
            .map_err(read)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (TypeChar::Uint, 2) => array
            .into_vec::<u16>()
            .map_err(read)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (TypeChar::Uint, 4) => array
            .into_vec::<u32>()
            .map_err(read)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (TypeChar::Uint, 8) => array
            .into_vec::<u64>()
            .map_err(read)?
            .into_iter()
            .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
            .collect(),
        (TypeChar::Int, 1) => array
            .into_vec::<i8>()
            .map_err(read)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (TypeChar::Int, 2) => array
            .into_vec::<i16>()
            .map_err(read)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (TypeChar::Int, 4) => array
            .into_vec::<i32>()
            .map_err(read)?
            .into_iter()
            .map(i64::from)
            .collect(),
        (TypeChar::Int, 8) => array.into_vec::<i64>().map_err(read)?,
        _ => return Err(format!("dtype {t} is not an integer type")),
    })
}

/// Writes `loaded` to `path` as `x_train`, `y_train` (and `x_test`, `y_test` when there
/// are test samples): images NCHW, labels int64; written under another name and renamed.
pub fn write(loaded: &Loaded, path: &Path) -> Result<()> {
    use npyz::WriterBuilder;
    let tmp = crate::cache::temporary_name(path);
    let written = (|| -> std::io::Result<()> {
        let mut npz = npyz::npz::NpzWriter::create(&tmp)?;
        let mut splits = vec![("train", &loaded.train)];
        if !loaded.test.is_empty() {
            splits.push(("test", &loaded.test));
        }
        for (split, samples) in splits {
            let mut shape = vec![samples.len() as u64];
            shape.extend(samples.shape.iter().map(|&d| d as u64));
            let options = zip_options();
            match &samples.values {
                Values::U8(v) => {
                    let mut w = npz
                        .array::<u8>(&format!("x_{split}"), options)?
                        .default_dtype()
                        .shape(&shape)
                        .begin_nd()?;
                    w.extend(v.iter().copied())?;
                    w.finish()?;
                }
                Values::F32(v) => {
                    let mut w = npz
                        .array::<f32>(&format!("x_{split}"), options)?
                        .default_dtype()
                        .shape(&shape)
                        .begin_nd()?;
                    w.extend(v.iter().copied())?;
                    w.finish()?;
                }
            }
            let mut w = npz
                .array::<i64>(&format!("y_{split}"), zip_options())?
                .default_dtype()
                .shape(&[samples.len() as u64])
                .begin_nd()?;
            w.extend(samples.labels.iter().map(|&l| i64::from(l)))?;
            w.finish()?;
        }
        npz.zip_writer().finish()?;
        Ok(())
    })()
    .map_err(DataError::io(path))
    .and_then(|()| std::fs::rename(&tmp, path).map_err(DataError::io(path)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn zip_options() -> zip::write::FileOptions {
    zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::write_npz_arrays;

    #[test]
    fn round_trip_and_layouts() {
        let tmp = tempfile::tempdir().unwrap();
        let train =
            Samples::new(Values::U8((0..24).collect()), vec![3, 2, 2], vec![0, 1], 2).unwrap();
        let loaded = Loaded {
            test: train.subset(&[1]),
            train,
            class_names: numbered_classes(2),
        };
        let path = tmp.path().join("d.npz");
        write(&loaded, &path).unwrap();
        assert_eq!(read(&path).unwrap(), loaded);

        // NHWC u8 of the same images gives the same samples.
        let nhwc: Vec<u8> = (0..2)
            .flat_map(|n| (0..4).flat_map(move |p| (0..3).map(move |c| (n * 12 + c * 4 + p) as u8)))
            .collect();
        let path = tmp.path().join("nhwc.npz");
        write_npz_arrays(
            &path,
            &[
                ("x_train", "|u1", &[2, 2, 2, 3], bytes_of(&nhwc)),
                ("y_train", "<i8", &[2], i64s(&[0, 1])),
            ],
        );
        let back = read(&path).unwrap();
        assert_eq!(back.train, loaded.train);
        assert!(back.test.is_empty());

        // Vectors of float64 narrow to f32; labels N x 1 of int32.
        let path = tmp.path().join("vec.npz");
        let x: Vec<u8> = [0.5f64, 1.5, -2.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let y: Vec<u8> = [1i32, 0].iter().flat_map(|v| v.to_le_bytes()).collect();
        write_npz_arrays(
            &path,
            &[
                ("x_train", "<f8", &[2, 2], x),
                ("y_train", "<i4", &[2, 1], y),
            ],
        );
        let back = read(&path).unwrap();
        assert_eq!(back.train.shape, vec![2]);
        assert_eq!(back.train.values, Values::F32(vec![0.5, 1.5, -2.0, 4.0]));
        assert_eq!(back.train.labels, vec![1, 0]);
    }

    fn bytes_of(v: &[u8]) -> Vec<u8> {
        v.to_vec()
    }

    fn i64s(v: &[i64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn bad_archives_name_the_file_and_the_array() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("bad.npz");
        let check = |arrays: &[(&str, &str, &[u64], Vec<u8>)], expected: &str| {
            write_npz_arrays(&path, arrays);
            let err = read(&path).unwrap_err().to_string();
            assert!(
                err.starts_with(&path.display().to_string()) && err.contains(expected),
                "{err}"
            );
            assert_eq!(err.lines().count(), 1);
        };
        let x = || vec![0u8; 8];
        check(
            &[("x_train", "|u1", &[2, 4], x())],
            "no array y_train (the archive has: x_train)",
        );
        check(
            &[
                ("x_train", "|u1", &[2, 4], x()),
                ("y_train", "<i8", &[3], i64s(&[0, 1, 1])),
            ],
            "x_train has 2 samples, y_train 3 labels",
        );
        check(
            &[
                ("x_train", "|u1", &[2, 4], x()),
                ("y_train", "<i8", &[2], i64s(&[0, -1])),
            ],
            "y_train: label -1 at 1 is out of range",
        );
        check(
            &[
                ("x_train", "|u1", &[0, 4], vec![]),
                ("y_train", "<i8", &[0], vec![]),
            ],
            "x_train has no samples",
        );
        check(
            &[
                ("x_train", "|u1", &[2, 4], x()),
                ("y_train", "<i8", &[2], i64s(&[0, 1])),
                ("x_test", "|u1", &[1, 4], vec![0; 4]),
                ("y_test", "<i8", &[1], i64s(&[2])),
            ],
            "y_test[0]: label 2 is out of range 0..2",
        );
        check(
            &[
                ("x_train", "|u1", &[2, 4], x()),
                ("y_train", "<i8", &[2], i64s(&[0, 1])),
                ("x_test", "|u1", &[1, 4], vec![0; 4]),
            ],
            "no array y_test",
        );
        check(
            &[
                ("x_train", "<i4", &[2, 1], x()),
                ("y_train", "<i8", &[2], i64s(&[0, 1])),
            ],
            "x_train: dtype <i4 is not uint8",
        );
        check(
            &[
                ("x_train", "|u1", &[2, 2, 2, 2, 1], vec![0; 16]),
                ("y_train", "<i8", &[2], i64s(&[0, 1])),
            ],
            "x_train: shape [2, 2, 2, 2, 1]",
        );
        std::fs::write(&path, b"not a zip").unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("not a readable .npz archive"), "{err}");
    }
}
