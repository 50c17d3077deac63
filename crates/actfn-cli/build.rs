//! Build script: the `actfn` binary's rpath to libtorch, set by the same code as
//! actfn-wrn's build script (see there), with the lib dir actfn-wrn hands on.

include!("../actfn-wrn/libtorch_rpath.rs");

fn main() {
    link_libtorch();
}
