// The build script of actfn-wrn and of actfn-cli, included by both (`include!`).

use std::env;
use std::path::{Path, PathBuf};

/// Sets the rpath (and, for actfn-wrn, hands the lib dir on); see the build scripts.
fn link_libtorch() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../actfn-wrn/libtorch_rpath.rs");
    for var in ["LIBTORCH", "LIBTORCH_LIB", "LIBTORCH_USE_PYTORCH"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let is_wrn = env::var("CARGO_PKG_NAME").is_ok_and(|name| name == "actfn-wrn");
    let from_dependency = if is_wrn {
        "DEP_TCH_LIBTORCH_LIB"
    } else {
        "DEP_ACTFN_WRN_LIBTORCH_LIB"
    };
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest
        .ancestors()
        .nth(2)
        .unwrap_or(&manifest)
        .to_path_buf();
    let lib = env::var_os(from_dependency)
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
    if is_wrn {
        println!("cargo:libtorch_lib={}", lib.display());
    }
}
