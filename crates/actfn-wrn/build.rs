//! Build script: an rpath to libtorch's lib/ for this crate's tests, and the same path for
//! dependents. The code is `libtorch_rpath.rs`, which actfn-cli's build script includes too.
//!
//! torch-sys's rpath does not reach final binaries, and `cargo:rustc-link-arg` applies only to
//! the package's own tests and binaries, so each package that links a binary needs its own;
//! one file serves both. actfn-wrn takes the lib dir torch-sys linked against
//! (DEP_TCH_LIBTORCH_LIB, from any of LIBTORCH, LIBTORCH_USE_PYTORCH, /usr/lib) and hands it
//! on (`links`, read by actfn-cli as DEP_ACTFN_WRN_LIBTORCH_LIB); without it, LIBTORCH/lib
//! resolved against the workspace root.

include!("libtorch_rpath.rs");

fn main() {
    link_libtorch();
}
