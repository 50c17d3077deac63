//! `--json-out FILE`: a command's JSON result written to a file for the programs that
//! drive `actfn` (the xtask), so that they never parse what is printed for people.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

/// Writes `value` as JSON to `path` atomically: into a temporary file beside it, synced,
/// then renamed over `path`, so that a reader sees the old file, no file, or the whole new
/// one, never a part (a run killed mid-write leaves only the temporary).
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string(value)?;
    text.push('\n');
    write_text_atomic(path, &text)
}

/// Writes `text` to `path` atomically, as [`write_json_atomic`] does.
pub fn write_text_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write()
        .inspect_err(|_| {
            // Best effort: the temporary is only litter, and the write error is the news.
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Refuses, before any work, a `--json-out` path whose folder does not exist and is not
/// `created` (the command's own output folder, made before the result is written): the
/// result would otherwise be lost only after a long training had finished.
pub fn check_json_out(path: &Path, created: Option<&Path>) -> anyhow::Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() && created != Some(folder) {
        anyhow::bail!(
            "--json-out {}: the folder {} does not exist",
            path.display(),
            folder.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_whole_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_json_atomic(&path, &serde_json::json!({"a": 1})).unwrap();
        write_json_atomic(&path, &serde_json::json!({"a": 2})).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":2}\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("no/such/folder/out.json");
        let err = write_json_atomic(&missing, &1).unwrap_err();
        assert!(format!("{err:#}").contains("cannot write"), "{err:#}");
    }

    #[test]
    fn a_missing_folder_is_refused_before_work() {
        let dir = tempfile::tempdir().unwrap();
        check_json_out(&dir.path().join("out.json"), None).unwrap();
        check_json_out(Path::new("out.json"), None).unwrap();
        let run = dir.path().join("run");
        check_json_out(&run.join("out.json"), Some(&run)).unwrap();
        let err = check_json_out(&dir.path().join("no/out.json"), Some(&run)).unwrap_err();
        assert!(format!("{err:#}").contains("does not exist"), "{err:#}");
    }
}
