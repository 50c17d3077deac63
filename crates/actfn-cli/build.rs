//! Build script: an rpath to libtorch's lib/ for the `actfn` binary and this crate's tests.
//!
//! `cargo:rustc-link-arg` from actfn-wrn's build script reaches only actfn-wrn's own tests,
//! so the binary gets its own. The lib dir comes from actfn-wrn (the one torch-sys linked
//! against, DEP_ACTFN_WRN_LIBTORCH_LIB), else LIBTORCH/lib resolved against the workspace.

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
    let lib = env::var_os("DEP_ACTFN_WRN_LIBTORCH_LIB")
        .map(PathBuf::from)
        .or_else(|| env::var_os("LIBTORCH").map(|l| Path::new(&l).join("lib")));
    let Some(lib) = lib else { return };
    let lib = workspace.join(lib);
    let lib = lib.canonicalize().unwrap_or(lib);
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "macos" {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
    if os == "linux" {
        // Keep libtorch.so (and a CUDA libtorch's libtorch_cuda.so) loaded, as tch does.
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
