//! libtorch for tch: a CPU libtorch 2.13.0 assembled from PyTorch's wheels in a user cache.
//!
//! tch 0.26 wants libtorch 2.13.0. Rather than the libtorch zip (whose site may be out of
//! reach), `setup` takes the pieces from the PyPI wheels that pip downloads:
//!
//! - `torch-2.13.0-*.whl`: `torch/include/`, `libtorch_cpu.so`, `libc10.so`, `libgomp.so.1`;
//! - `nvidia-cuda-runtime` and `nvidia-cuda-cupti`: `libcudart.so.13`, `libcupti.so.13`,
//!   which libtorch_cpu.so needs to load (it loads without a GPU).
//!
//! The wheel's own `libtorch.so` needs the 470 MB `libtorch_cuda.so`; a small stand-in linked
//! to libtorch_cpu.so is built with the C compiler instead, so torch-sys links for CPU only.
//! The result is written to `<cache>/libtorch-2.13.0-cpu/` atomically (a temporary folder
//! renamed into place, with a marker file written last) and `<repo>/target/libtorch` is a
//! symlink to it, which `.cargo/config.toml` names as LIBTORCH.
//!
//! A user's own choice wins: with `LIBTORCH` set (to anything but `target/libtorch`) or
//! `LIBTORCH_USE_PYTORCH` set, setup does nothing. CUDA users install the CUDA build of
//! PyTorch 2.13 and set `LIBTORCH_USE_PYTORCH=1`, or set `LIBTORCH` to a CUDA libtorch.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context};

/// The libtorch version tch 0.26 (torch-sys 0.26) is built for.
pub const TORCH_VERSION: &str = "2.13.0";

/// The file whose content marks a finished libtorch folder; bump it to force a rebuild.
const MARKER: &str = ".actfn-libtorch";
const MARKER_CONTENT: &str = "actfn libtorch 2.13.0 cpu, layout 1\n";

/// One wheel to download and the members to take from it (`(source, destination)`; a source
/// ending in `/` takes the whole folder).
struct Wheel {
    requirement: &'static str,
    /// The start of the wheel's file name, as pip saves it.
    file_prefix: &'static str,
    members: &'static [(&'static str, &'static str)],
}

const WHEELS: [Wheel; 3] = [
    Wheel {
        requirement: "torch==2.13.0",
        file_prefix: "torch-2.13.0-",
        members: &[
            ("torch/include/", "include/"),
            ("torch/lib/libtorch_cpu.so", "lib/libtorch_cpu.so"),
            ("torch/lib/libc10.so", "lib/libc10.so"),
            ("torch/lib/libgomp.so.1", "lib/libgomp.so.1"),
        ],
    },
    Wheel {
        requirement: "nvidia-cuda-runtime==13.0.96",
        file_prefix: "nvidia_cuda_runtime-13.0.96-",
        members: &[("nvidia/cu13/lib/libcudart.so.13", "lib/libcudart.so.13")],
    },
    Wheel {
        requirement: "nvidia-cuda-cupti==13.0.85",
        file_prefix: "nvidia_cuda_cupti-13.0.85-",
        members: &[("nvidia/cu13/lib/libcupti.so.13", "lib/libcupti.so.13")],
    },
];

/// Where libtorch comes from after [`setup`].
#[derive(Debug)]
pub enum Libtorch {
    /// `LIBTORCH` was set by the user; nothing was done.
    UserPath(PathBuf),
    /// `LIBTORCH_USE_PYTORCH` was set: torch-sys asks python3 for PyTorch's location.
    Python,
    /// The CPU libtorch in the cache, linked from `target/libtorch`.
    Cached { dir: PathBuf, link: PathBuf },
}

impl fmt::Display for Libtorch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Libtorch::UserPath(p) => write!(f, "libtorch: {} (from LIBTORCH)", p.display()),
            Libtorch::Python => {
                write!(
                    f,
                    "libtorch: PyTorch of python3 (LIBTORCH_USE_PYTORCH is set)"
                )
            }
            Libtorch::Cached { dir, link } => {
                write!(
                    f,
                    "libtorch: {} (CPU; linked from {})",
                    dir.display(),
                    link.display()
                )
            }
        }
    }
}

/// Makes libtorch available to the workspace at `root`, unless the user chose one.
pub fn setup(root: &Path) -> anyhow::Result<Libtorch> {
    // torch-sys tests only whether the variable exists, so do the same.
    if std::env::var_os("LIBTORCH_USE_PYTORCH").is_some() {
        return Ok(Libtorch::Python);
    }
    let link = root.join("target").join("libtorch");
    if let Some(user) = std::env::var_os("LIBTORCH") {
        // `cargo xtask` runs under cargo, which sets LIBTORCH from `.cargo/config.toml`
        // when the user did not: that value is ours, anything else is the user's.
        let user = PathBuf::from(user);
        if !same_path(&user, &link) {
            return Ok(Libtorch::UserPath(user));
        }
    }
    ensure!(
        cfg!(all(target_os = "linux", target_arch = "x86_64")),
        "automatic libtorch setup supports Linux x86_64 only; install PyTorch {TORCH_VERSION} \
         and set LIBTORCH_USE_PYTORCH=1, or set LIBTORCH to a libtorch {TORCH_VERSION} folder"
    );
    let cache = cache_dir()?;
    let dir = cache.join(format!("libtorch-{TORCH_VERSION}-cpu"));
    if !is_complete(&dir) {
        assemble(&cache, &dir)?;
    }
    symlink_to(&link, &dir)?;
    Ok(Libtorch::Cached { dir, link })
}

/// `$ACTFN_CACHE`, else `$XDG_CACHE_HOME/actfn`, else `~/.cache/actfn`.
pub(crate) fn cache_dir() -> anyhow::Result<PathBuf> {
    let non_empty = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = non_empty("ACTFN_CACHE") {
        return Ok(dir);
    }
    if let Some(dir) = non_empty("XDG_CACHE_HOME") {
        return Ok(dir.join("actfn"));
    }
    match non_empty("HOME") {
        Some(home) => Ok(home.join(".cache").join("actfn")),
        None => bail!("no cache folder: set ACTFN_CACHE, XDG_CACHE_HOME or HOME"),
    }
}

fn same_path(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    // The link may not exist yet: compare the canonical parents and the names.
    match (
        a.parent().map(fs::canonicalize),
        b.parent().map(fs::canonicalize),
    ) {
        (Some(Ok(pa)), Some(Ok(pb))) => pa == pb && a.file_name() == b.file_name(),
        _ => false,
    }
}

fn is_complete(dir: &Path) -> bool {
    fs::read_to_string(dir.join(MARKER)).is_ok_and(|m| m == MARKER_CONTENT)
}

/// Builds the libtorch folder in a temporary sibling of `dir` and renames it into place.
fn assemble(cache: &Path, dir: &Path) -> anyhow::Result<()> {
    let wheels_dir = cache.join("wheels");
    fs::create_dir_all(&wheels_dir)
        .with_context(|| format!("cannot create {}", wheels_dir.display()))?;
    let tmp_prefix = format!(".libtorch-{TORCH_VERSION}-cpu.tmp-");
    remove_stale_temporaries(cache, &tmp_prefix);
    let tmp = cache.join(format!("{tmp_prefix}{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).with_context(|| format!("cannot remove {}", tmp.display()))?;
    }
    fs::create_dir_all(tmp.join("lib"))
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    eprintln!(
        "xtask: assembling a CPU libtorch {TORCH_VERSION} in {}",
        dir.display()
    );

    let result = (|| {
        for wheel in &WHEELS {
            let path = find_or_download(&wheels_dir, wheel)?;
            extract(&path, wheel.members, &tmp).with_context(|| {
                format!(
                    "cannot extract from {} (delete it to download it again)",
                    path.display()
                )
            })?;
        }
        let lib = tmp.join("lib");
        // torch-sys links `-lgomp`: let it find the bundled OpenMP runtime.
        std::os::unix::fs::symlink("libgomp.so.1", lib.join("libgomp.so"))
            .context("cannot link libgomp.so")?;
        build_stub_libtorch(&lib)?;
        fs::write(tmp.join("build-version"), format!("{TORCH_VERSION}\n"))?;
        fs::write(tmp.join(MARKER), MARKER_CONTENT)?;
        anyhow::Ok(())
    })();
    if let Err(err) = result {
        let _ = fs::remove_dir_all(&tmp);
        return Err(err);
    }

    if dir.exists() {
        // A half-done folder from an older layout or an interrupted copy.
        fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    if let Err(err) = fs::rename(&tmp, dir) {
        let _ = fs::remove_dir_all(&tmp);
        // Another setup running at the same time may have won the race.
        if !is_complete(dir) {
            return Err(err).with_context(|| format!("cannot rename into {}", dir.display()));
        }
    }
    Ok(())
}

/// Removes `<dir>/<prefix><pid>` folders left by setups that were killed (their process is
/// gone). Only where /proc tells which processes live.
fn remove_stale_temporaries(dir: &Path, prefix: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists()) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The cached wheel for `wheel`, downloaded with pip when it is missing.
fn find_or_download(wheels_dir: &Path, wheel: &Wheel) -> anyhow::Result<PathBuf> {
    if let Some(found) = find_wheel(wheels_dir, wheel)? {
        return Ok(found);
    }
    eprintln!(
        "xtask: downloading {} with pip into {}",
        wheel.requirement,
        wheels_dir.display()
    );
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            wheel.requirement,
            "-d",
        ])
        .arg(wheels_dir)
        .status()
        .context("cannot run python3 -m pip (install python3 and pip)")?;
    ensure!(
        status.success(),
        "`python3 -m pip download --no-deps {}` failed ({status}); it needs a Python that \
         PyTorch {TORCH_VERSION} supports and access to PyPI. Alternatively put the wheel in {}, \
         or set LIBTORCH / LIBTORCH_USE_PYTORCH=1",
        wheel.requirement,
        wheels_dir.display()
    );
    find_wheel(wheels_dir, wheel)?.with_context(|| {
        format!(
            "pip reported success but no {}*.whl is in {}",
            wheel.file_prefix,
            wheels_dir.display()
        )
    })
}

fn find_wheel(wheels_dir: &Path, wheel: &Wheel) -> anyhow::Result<Option<PathBuf>> {
    let mut found = Vec::new();
    for entry in
        fs::read_dir(wheels_dir).with_context(|| format!("cannot read {}", wheels_dir.display()))?
    {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(wheel.file_prefix)
            && name.ends_with(".whl")
            && name.contains("linux")
            && name.contains("x86_64")
        {
            found.push(wheels_dir.join(name));
        }
    }
    found.sort();
    Ok(found.into_iter().next())
}

/// Copies `members` of the wheel (a zip file) into `dest`.
fn extract(wheel: &Path, members: &[(&str, &str)], dest: &Path) -> anyhow::Result<()> {
    let file = File::open(wheel).with_context(|| format!("cannot open {}", wheel.display()))?;
    let mut zip =
        zip::ZipArchive::new(io::BufReader::new(file)).context("not a valid wheel (zip)")?;
    let names: Vec<String> = zip.file_names().map(str::to_owned).collect();
    for &(src, dst) in members {
        let chosen: Vec<&String> = if src.ends_with('/') {
            names
                .iter()
                .filter(|n| n.starts_with(src) && !n.ends_with('/'))
                .collect()
        } else {
            names.iter().filter(|n| n.as_str() == src).collect()
        };
        ensure!(!chosen.is_empty(), "{} holds no {src}", wheel.display());
        for name in chosen {
            let mut entry = zip.by_name(name)?;
            let rel = entry
                .enclosed_name()
                .and_then(|p| p.strip_prefix(src).ok().map(Path::to_path_buf))
                .with_context(|| format!("unsafe member name {name}"))?;
            let out = if src.ends_with('/') {
                dest.join(dst).join(rel)
            } else {
                dest.join(dst)
            };
            if entry.size() > 50_000_000 {
                eprintln!(
                    "xtask: extracting {} ({} MB)",
                    name,
                    entry.size() / 1_000_000
                );
            }
            if let Some(parent) = out.parent() {
                fs::create_dir_all(parent)?;
            }
            let mut writer = BufWriter::with_capacity(1 << 20, File::create(&out)?);
            io::copy(&mut entry, &mut writer)
                .with_context(|| format!("cannot write {}", out.display()))?;
            drop(writer);
            if name.contains(".so") {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&out, fs::Permissions::from_mode(0o755))?;
            }
        }
    }
    Ok(())
}

/// Builds `lib/libtorch.so`: an empty library that depends on libtorch_cpu.so and libc10.so.
fn build_stub_libtorch(lib: &Path) -> anyhow::Result<()> {
    let source = lib.join("actfn_libtorch_stub.c");
    fs::write(
        &source,
        "/* CPU stand-in for libtorch.so, made by `cargo xtask setup`. */\n",
    )?;
    let cc = std::env::var_os("CC")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "cc".into());
    let output = Command::new(&cc)
        .current_dir(lib)
        .args([
            "-shared",
            "-fPIC",
            "-o",
            "libtorch.so",
            "actfn_libtorch_stub.c",
        ])
        .args(["-Wl,--no-as-needed", "-L.", "-ltorch_cpu", "-lc10"])
        .args(["-Wl,-soname,libtorch.so", "-Wl,-rpath,$ORIGIN"])
        .output()
        .with_context(|| format!("cannot run the C compiler {:?} (install gcc or set CC)", cc))?;
    fs::remove_file(&source)?;
    ensure!(
        output.status.success(),
        "building the stand-in libtorch.so failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// Points the symlink `link` at `target`, replacing an older symlink.
fn symlink_to(link: &Path, target: &Path) -> anyhow::Result<()> {
    match fs::symlink_metadata(link) {
        Ok(meta) if meta.file_type().is_symlink() => {
            if fs::read_link(link)? == target {
                return Ok(());
            }
        }
        Ok(_) => bail!(
            "{} exists and is not a symlink; remove it, or set LIBTORCH to use it",
            link.display()
        ),
        Err(_) => {}
    }
    let parent = link.parent().context("link without a parent folder")?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let tmp = parent.join(format!(".libtorch.tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)
        .with_context(|| format!("cannot create a symlink in {}", parent.display()))?;
    fs::rename(&tmp, link).with_context(|| format!("cannot replace {}", link.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_is_created_and_replaced() {
        let tmp = std::env::temp_dir().join(format!("xtask-link-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(tmp.join("a")).unwrap();
        fs::create_dir_all(tmp.join("b")).unwrap();
        let link = tmp.join("target").join("libtorch");
        symlink_to(&link, &tmp.join("a")).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), tmp.join("a"));
        symlink_to(&link, &tmp.join("b")).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), tmp.join("b"));
        fs::remove_file(&link).unwrap();
        fs::create_dir(&link).unwrap();
        assert!(symlink_to(&link, &tmp.join("a")).is_err());
        fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn stale_temporaries_are_removed() {
        let tmp = std::env::temp_dir().join(format!("xtask-stale-test-{}", std::process::id()));
        let live = tmp.join(format!(".t.tmp-{}", std::process::id()));
        let dead = tmp.join(format!(".t.tmp-{}", u32::MAX));
        let other = tmp.join("keep");
        for d in [&live, &dead, &other] {
            fs::create_dir_all(d).unwrap();
        }
        remove_stale_temporaries(&tmp, ".t.tmp-");
        assert!(live.exists() && other.exists());
        assert!(!dead.exists());
        fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn incomplete_folder_is_not_complete() {
        let tmp = std::env::temp_dir().join(format!("xtask-marker-test-{}", std::process::id()));
        fs::create_dir_all(&tmp).unwrap();
        assert!(!is_complete(&tmp));
        fs::write(tmp.join(MARKER), "old layout\n").unwrap();
        assert!(!is_complete(&tmp));
        fs::write(tmp.join(MARKER), MARKER_CONTENT).unwrap();
        assert!(is_complete(&tmp));
        fs::remove_dir_all(&tmp).unwrap();
    }
}
