//! Build script: an rpath to libtorch's lib/ for this crate's tests, and the same path for dependents.
//!
//! torch-sys's rpath does not reach final binaries, and `cargo:rustc-link-arg` applies only to
//! the package's own tests and binaries; so this crate (for its tests) and actfn-cli (for
//! `actfn`, through DEP_ACTFN_WRN_LIBTORCH_LIB) each add one.
//!
//! The lib dir is the one torch-sys linked against (DEP_TCH_LIBTORCH_LIB, any of LIBTORCH,
//! LIBTORCH_USE_PYTORCH, /usr/lib), else LIBTORCH/lib resolved against the workspace root.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for var in ["LIBTORCH", "LIBTORCH_LIB", "LIBTORCH_USE_PYTORCH"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest
        .ancestors()
        .nth(2)
        .unwrap_or(&manifest)
        .to_path_buf();
    let lib = env::var_os("DEP_TCH_LIBTORCH_LIB")
        .map(PathBuf::from)
        .or_else(|| env::var_os("LIBTORCH").map(|l| Path::new(&l).join("lib")));
    let Some(lib) = lib else { return };
    let lib = workspace.join(lib);
    // Canonical, so that binaries keep working when target/libtorch (a symlink) is cleaned.
    let lib = lib.canonicalize().unwrap_or(lib);
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "macos" {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
    if os == "linux" {
        // As tch does for its own binaries: keep libtorch.so (and with a CUDA libtorch,
        // libtorch_cuda.so) loaded although no symbol of it is used directly.
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
    println!("cargo:libtorch_lib={}", lib.display());
}
