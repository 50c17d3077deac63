//! Temporaries left by writers that were killed: a file or folder written under a name
//! holding the writer's process id, and renamed into place when complete.

use std::fs;
use std::path::Path;

/// Removes the entries of `dir` that `writer_pid` names as a temporary of a process that no
/// longer runs. Only where the system tells which processes live (`/proc`); a temporary of
/// a live writer (another process fetching or caching right now) is left alone.
pub(crate) fn remove_stale_temporaries(dir: &Path, writer_pid: impl Fn(&str) -> Option<u32>) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name.to_str().and_then(&writer_pid);
        if pid.is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists()) {
            let path = entry.path();
            let _ = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
        }
    }
}
