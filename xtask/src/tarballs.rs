//! Where the xtask looks for local copies of the CIFAR tarballs before downloading them:
//! the folder named by `ACTFN_DATA_TARBALLS`, holding the official-format tarballs
//! (`cifar-10-binary.tar.gz`, `cifar-100-binary.tar.gz`, or the
//! 15,000-image subset `cifar-100-binary-subset.tar.gz`), handed to `actfn data fetch --from`
//! ([`crate::actfn_args::data_fetch`]). Unset or empty: the data sets are downloaded from
//! the official site by `actfn data fetch`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment variable naming a folder of official-format CIFAR tarballs.
pub const TARBALLS_VAR: &str = "ACTFN_DATA_TARBALLS";

/// The local tarball of `dataset` (`cifar10` or `cifar100`) in the folder that
/// `ACTFN_DATA_TARBALLS` names, if there is one.
pub fn local_tarball(dataset: &str) -> Option<PathBuf> {
    tarball_in(std::env::var_os(TARBALLS_VAR), dataset)
}

/// The tarball of `dataset` in `dir` (the variable's value), if present.
fn tarball_in(dir: Option<OsString>, dataset: &str) -> Option<PathBuf> {
    let dir = dir.filter(|d| !d.is_empty())?;
    let names: &[&str] = match dataset {
        "cifar10" => &["cifar-10-binary.tar.gz"],
        // The full release first; the 15,000-image subset where only it is present.
        _ => &["cifar-100-binary.tar.gz", "cifar-100-binary-subset.tar.gz"],
    };
    names
        .iter()
        .map(|n| Path::new(&dir).join(n))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_tarball_in_the_named_folder_only() {
        let dir = std::env::temp_dir().join(format!("xtask-tarballs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cifar-100-binary-subset.tar.gz"), b"").unwrap();
        let found = tarball_in(Some(dir.clone().into()), "cifar100");
        assert_eq!(found, Some(dir.join("cifar-100-binary-subset.tar.gz")));
        assert_eq!(tarball_in(Some(dir.clone().into()), "cifar10"), None);
        assert_eq!(tarball_in(None, "cifar100"), None);
        assert_eq!(tarball_in(Some(OsString::new()), "cifar100"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
