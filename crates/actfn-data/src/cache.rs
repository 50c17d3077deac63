//! The decode cache: a data set decoded once is stored under a key of its content, so that
//! every later run (every candidate of a search, every worker) reads the samples back
//! instead of decoding images again.
//!
//! A cache file `decoded-<key>.bin` holds a magic line, a JSON header (the key, shapes,
//! kinds, lengths and class names), then the training values and labels and the test
//! values and labels, little-endian. A file that does not match its key or its header is
//! ignored and replaced; the cache only saves time, so a cache that cannot be written is
//! a warning, never a failure.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::samples::{Loaded, Samples, Values};

const MAGIC: &[u8; 16] = b"actfn decoded 1\n";

#[derive(Serialize, Deserialize)]
struct Header {
    key: String,
    shape: Vec<usize>,
    kind: String,
    num_classes: usize,
    class_names: Vec<String>,
    train: usize,
    test: usize,
}

/// The samples stored in `cache_dir` under `key`, else `decode()`, then stored there.
pub fn cached(
    cache_dir: &Path,
    key: &[u8; 32],
    decode: impl FnOnce() -> Result<Loaded>,
) -> Result<Loaded> {
    let hex = hex(key);
    let path = cache_dir.join(format!("decoded-{hex}.bin"));
    if let Some(found) = load(&path, &hex) {
        return Ok(found);
    }
    let loaded = decode()?;
    let stored = std::fs::create_dir_all(cache_dir)
        .map_err(DataError::io(cache_dir))
        .and_then(|()| store(&loaded, &path, &hex));
    if let Err(err) = stored {
        eprintln!(
            "actfn: warning: the decoded data were not cached ({err}); the run goes on without it"
        );
    }
    Ok(loaded)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The name `path` is written under before it is renamed into place: beside it, with the
/// writer's process id, so that two writers never share one.
pub fn temporary_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

fn store(loaded: &Loaded, path: &Path, key: &str) -> Result<()> {
    let header = Header {
        key: key.to_owned(),
        shape: loaded.train.shape.clone(),
        kind: loaded.train.values.kind().to_owned(),
        num_classes: loaded.train.num_classes,
        class_names: loaded.class_names.clone(),
        train: loaded.train.len(),
        test: loaded.test.len(),
    };
    let header = serde_json::to_vec(&header).expect("a header serializes");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&header);
    for samples in [&loaded.train, &loaded.test] {
        bytes.extend_from_slice(&samples.value_bytes());
        bytes.extend(samples.labels.iter().flat_map(|l| l.to_le_bytes()));
    }
    let tmp = temporary_name(path);
    let written = std::fs::write(&tmp, &bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(DataError::io(path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn load(path: &Path, key: &str) -> Option<Loaded> {
    let bytes = std::fs::read(path).ok()?;
    let rest = bytes.strip_prefix(MAGIC)?;
    let len = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?) as usize;
    let header: Header = serde_json::from_slice(rest.get(8..8usize.checked_add(len)?)?).ok()?;
    if header.key != key {
        return None;
    }
    let mut body = &rest[8 + len..];
    let features: usize = header.shape.iter().product();
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = body.split_at_checked(n)?;
        body = tail;
        Some(head)
    };
    let mut split = |n: usize| -> Option<Samples> {
        let count = n.checked_mul(features)?;
        let values = match header.kind.as_str() {
            "u8" => Values::U8(take(count)?.to_vec()),
            "f32" => Values::F32(
                take(count.checked_mul(4)?)?
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ),
            _ => return None,
        };
        let labels = take(n.checked_mul(4)?)?
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Samples::new(values, header.shape.clone(), labels, header.num_classes).ok()
    };
    let train = split(header.train)?;
    let test = split(header.test)?;
    let loaded = Loaded {
        train,
        test,
        class_names: header.class_names,
    };
    (body.is_empty() && loaded.check().is_ok()).then_some(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::numbered_classes;

    fn sample() -> Loaded {
        let train = Samples::new(
            Values::F32(vec![0.5, -1.0, 2.0, 3.0]),
            vec![2],
            vec![1, 0],
            2,
        )
        .unwrap();
        Loaded {
            test: train.none_like(),
            train,
            class_names: numbered_classes(2),
        }
    }

    #[test]
    fn decodes_once_then_reads_back_and_ignores_a_damaged_file() {
        let tmp = tempfile::tempdir().unwrap();
        let key = [7u8; 32];
        let mut calls = 0;
        let get = |calls: &mut i32| {
            cached(tmp.path(), &key, || {
                *calls += 1;
                Ok(sample())
            })
            .unwrap()
        };
        assert_eq!(get(&mut calls), sample());
        let second = get(&mut calls);
        assert_eq!((second, calls), (sample(), 1));
        let path = tmp.path().join(format!("decoded-{}.bin", hex(&key)));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert_eq!(get(&mut calls), sample());
        assert_eq!(calls, 2);
        // Another key does not read this file.
        let other = cached(tmp.path(), &[8u8; 32], || {
            Ok(Loaded {
                class_names: vec!["a".into(), "b".into()],
                ..sample()
            })
        })
        .unwrap();
        assert_eq!(other.class_names, vec!["a", "b"]);
    }
}
