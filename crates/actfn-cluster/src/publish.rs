//! Atomic publication of a task's result, and the reader that goes with it.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::Path;

use crate::{ClusterError, Result};

/// Writes `bytes` to `path` so that a reader sees either no file or the whole of it, and
/// so that it survives a crash once this returns: a temporary file in the same directory
/// (a rename across file systems is not atomic) is written and fsync'd, renamed over
/// `path`, and the directory is fsync'd so the rename itself is durable.
pub fn publish_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        ClusterError::io(
            "publish",
            path,
            std::io::Error::new(ErrorKind::InvalidInput, "the path names no file"),
        )
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(ClusterError::io("write", tmp, e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(ClusterError::io("rename into place", path, e));
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ClusterError::io("fsync directory", dir, e))
}

/// The published result at `path`, or `None` while the task has not published it.
pub fn read_result(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ClusterError::io("read", path, e)),
    }
}

/// Whether the task publishing `path` is done.
pub(crate) fn is_published(path: &Path) -> bool {
    path.exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_whole_files_and_reads_missing_as_not_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result.json");
        assert_eq!(read_result(&path).unwrap(), None);
        publish_atomically(&path, b"{\"a\":1}").unwrap();
        assert_eq!(read_result(&path).unwrap().unwrap(), b"{\"a\":1}");
        publish_atomically(&path, b"second").unwrap();
        assert_eq!(read_result(&path).unwrap().unwrap(), b"second");
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn names_the_path_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("r");
        let err = publish_atomically(&path, b"x").unwrap_err().to_string();
        assert!(err.contains("missing-dir"), "{err}");
    }
}
